// Command fakegenesys runs the local fake of Genesys Cloud presence
// (package bridge/genesys/fakegenesys) for demos and for end-to-end tests
// that run the gateway as a separate process. It prints its base URL on
// one line and serves until SIGINT or SIGTERM. The base URL stands for the
// login host (/oauth/token), the API host (/api/v2) and the streaming host
// (/channels) alike.
//
// Its /_fake/ control API has no authentication: keep it on loopback.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/blfgw/blfgw/bridge/genesys/fakegenesys"
)

// Demo defaults, so that a newcomer can start it with no flags. They are
// not secrets: the fake listens on loopback by default.
const (
	defaultClientID = "0b1f9e2c-7d3a-4c5e-9f10-00000000c001"
	defaultSecret   = "fakegenesys-demo-secret"
)

// defaultUsers match the extensions of configs/example.toml; the last part
// of each id is the extension number, and the emails are those cmd/fakegraph
// uses, so one person is the same in both fakes.
var defaultUsers = []fakegenesys.User{
	{ID: "00000000-0000-4000-8000-000000001001", Email: "alice@contoso.example", Name: "Alice Reception"},
	{ID: "00000000-0000-4000-8000-000000001002", Email: "bob@contoso.example", Name: "Bob Sales"},
	{ID: "00000000-0000-4000-8000-000000001003", Email: "carol@contoso.example", Name: "Carol Sales Lead"},
	{ID: "00000000-0000-4000-8000-000000001004", Email: "dave@contoso.example", Name: "Dave Support"},
	{ID: "00000000-0000-4000-8000-000000001005", Email: "erin@contoso.example", Name: "Erin Operations"},
	{ID: "00000000-0000-4000-8000-000000001006", Email: "frank@contoso.example", Name: "Frank Quality"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakegenesys:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakegenesys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address; port 0 picks a free one")
	useTLS := fs.Bool("tls", false, "serve https and wss with a self-signed certificate for localhost, 127.0.0.1 and ::1")
	certOut := fs.String("cert-out", "", "with -tls, write the certificate (PEM) here for clients to trust")
	clientID := fs.String("client-id", defaultClientID, "the OAuth client's id")
	secret := fs.String("client-secret", "", "the OAuth client's secret (default: a fixed demo secret)")
	secretEnv := fs.String("client-secret-env", "", "read the client secret from this environment variable")
	usersFile := fs.String("users", "", `JSON array of {"id","email","name"} (default: users for extensions 1001-1006)`)
	defsFile := fs.String("definitions", "", `JSON array of secondary presence definitions {"id","name","systemPresence","deactivated"}`)
	tokenLife := fs.Duration("token-lifetime", fakegenesys.DefaultTokenLifetime, "access token lifetime (expires_in)")
	heartbeat := fs.Duration("heartbeat", fakegenesys.DefaultHeartbeat, "interval of WebSocket heartbeats")
	channelLife := fs.Duration("channel-lifetime", fakegenesys.DefaultChannelLifetime, "notification channel lifetime after creation or resubscription")
	rateLimit := fs.Int("rate-limit", fakegenesys.DefaultRateLimit, "requests per minute per token; negative disables")
	closingDelay := fs.Duration("socket-closing-delay", fakegenesys.DefaultSocketClosingDelay, "time between v2.system.socket_closing and the close")
	debug := fs.Bool("debug", false, "log every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	switch {
	case *secret != "" && *secretEnv != "":
		return errors.New("give -client-secret or -client-secret-env, not both")
	case *secretEnv != "":
		*secret = os.Getenv(*secretEnv)
		if *secret == "" {
			return fmt.Errorf("environment variable %s is empty or unset", *secretEnv)
		}
	case *secret == "":
		*secret = defaultSecret
	}
	if *clientID == "" {
		return errors.New("-client-id must not be empty")
	}
	if *certOut != "" && !*useTLS {
		return errors.New("-cert-out needs -tls")
	}
	if *tokenLife < time.Second {
		return fmt.Errorf("-token-lifetime %v: at least 1s", *tokenLife)
	}
	users := defaultUsers
	if *usersFile != "" {
		var err error
		if users, err = readJSONList(*usersFile, fakegenesys.User.Validate); err != nil {
			return fmt.Errorf("users: %w", err)
		}
	}
	var defs []fakegenesys.Definition
	if *defsFile != "" {
		var err error
		if defs, err = readJSONList(*defsFile, fakegenesys.Definition.Validate); err != nil {
			return fmt.Errorf("definitions: %w", err)
		}
	}

	fg := fakegenesys.New(fakegenesys.Options{
		Clients:            map[string]string{*clientID: *secret},
		Users:              users,
		Definitions:        defs,
		TokenLifetime:      *tokenLife,
		Heartbeat:          *heartbeat,
		ChannelLifetime:    *channelLife,
		RateLimit:          *rateLimit,
		SocketClosingDelay: *closingDelay,
		Log:                log,
	})
	defer fg.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		log.Warn("listening on all interfaces; the /_fake/ control API has no authentication")
	} else if ip != nil && !ip.IsLoopback() {
		log.Warn("listening on a non-loopback address; the /_fake/ control API has no authentication", "addr", host)
	}
	scheme, wsScheme := "http", "ws"
	if *useTLS {
		scheme, wsScheme = "https", "wss"
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
		cert, pem, err := fakegenesys.SelfSignedCert(hosts...)
		if err != nil {
			ln.Close()
			return err
		}
		if *certOut != "" {
			if err := os.WriteFile(*certOut, pem, 0o644); err != nil {
				ln.Close()
				return fmt.Errorf("cert-out: %w", err)
			}
		}
		// HTTP/1.1 only: the WebSocket upgrade needs it.
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	}
	hostPort := net.JoinHostPort(host, port)
	base := scheme + "://" + hostPort

	srv := &http.Server{
		Handler:           fg.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	fmt.Fprintln(stdout, base)
	log.Info("fakegenesys ready",
		"api", base+"/api/v2",
		"token_endpoint", base+"/oauth/token",
		"streaming", wsScheme+"://"+hostPort+"/channels/",
		"control", base+"/_fake/",
		"client_id", *clientID, "users", len(users), "secondary_definitions", len(defs), "cert", *certOut)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Sockets are hijacked, so Shutdown does not wait for them; closing
	// the fake first ends them, then Shutdown drains plain requests.
	fg.Close()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info("fakegenesys stopped")
	return err
}

// readJSONList reads a non-empty JSON array from path, strictly, and
// validates every entry.
func readJSONList[T any](path string, validate func(T) error) ([]T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: empty list", path)
	}
	var errs []error
	for _, v := range list {
		if err := validate(v); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}
