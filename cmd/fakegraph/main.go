// Command fakegraph runs the local fake of Microsoft Graph presence and the
// Entra ID token endpoint (package bridge/teams/fakegraph) for demos and for
// end-to-end tests that run the gateway as a separate process. It prints its
// base URL on one line and serves until SIGINT or SIGTERM.
//
// Its /_fake/ control API has no authentication: keep it on loopback.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/blfgw/blfgw/bridge/teams/fakegraph"
)

// Demo defaults, so that a newcomer can start it with no flags. They are
// not secrets: the fake accepts nothing from outside loopback by default.
const (
	defaultTenant   = "0b1f9e2c-7d3a-4c5e-9f10-000000000001"
	defaultClientID = "0b1f9e2c-7d3a-4c5e-9f10-00000000a001"
	defaultSecret   = "fakegraph-demo-secret"
	defaultAccount  = "svc-presence@contoso.example"
	defaultPassword = "fakegraph-demo-password"
)

// defaultUsers match the extensions of configs/example.toml; the last
// part of each object id is the extension number.
var defaultUsers = []fakegraph.User{
	{ID: "00000000-0000-4000-8000-000000001001", UPN: "alice@contoso.example", DisplayName: "Alice Reception"},
	{ID: "00000000-0000-4000-8000-000000001002", UPN: "bob@contoso.example", DisplayName: "Bob Sales"},
	{ID: "00000000-0000-4000-8000-000000001003", UPN: "carol@contoso.example", DisplayName: "Carol Sales Lead"},
	{ID: "00000000-0000-4000-8000-000000001004", UPN: "dave@contoso.example", DisplayName: "Dave Support"},
	{ID: "00000000-0000-4000-8000-000000001005", UPN: "erin@contoso.example", DisplayName: "Erin Operations"},
	{ID: "00000000-0000-4000-8000-000000001006", UPN: "frank@contoso.example", DisplayName: "Frank Quality"},
	{ID: "00000000-0000-4000-8000-000000009001", UPN: defaultAccount, DisplayName: "Presence service account"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakegraph:", err)
		os.Exit(1)
	}
}

// accountFlags collects repeated -account user:password.
type accountFlags map[string]string

func (a accountFlags) String() string { return strings.Join(slices.Sorted(maps.Keys(a)), ",") }

func (a accountFlags) Set(v string) error {
	user, pw, ok := strings.Cut(v, ":")
	if !ok || user == "" || pw == "" {
		return errors.New("want user:password")
	}
	a[user] = pw
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakegraph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address; port 0 picks a free one")
	useTLS := fs.Bool("tls", false, "serve https with a self-signed certificate for localhost, 127.0.0.1 and ::1 (needed by azidentity)")
	certOut := fs.String("cert-out", "", "with -tls, write the certificate (PEM) here for clients to trust")
	tenant := fs.String("tenant", defaultTenant, "tenant (directory) id")
	clientID := fs.String("client-id", defaultClientID, "the app registration's client id")
	secret := fs.String("client-secret", "", "the app's client secret (default: a fixed demo secret)")
	secretEnv := fs.String("client-secret-env", "", "read the client secret from this environment variable")
	accounts := accountFlags{}
	fs.Var(accounts, "account", "delegated service account user:password, repeatable (default "+defaultAccount+":"+defaultPassword+")")
	usersFile := fs.String("users", "", `JSON array of {"id","upn","displayName"} (default: users for extensions 1001-1006 and the service account)`)
	allowHTTP := fs.Bool("allow-http-notify", false, "accept http:// notification URLs on loopback (real Graph wants https)")
	notifyCA := fs.String("notify-ca", "", "PEM file of extra CA certificates to trust for https notification URLs")
	tokenLife := fs.Duration("token-lifetime", fakegraph.DefaultTokenLifetime, "access token lifetime")
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
	if len(accounts) == 0 {
		accounts[defaultAccount] = defaultPassword
	}
	if *certOut != "" && !*useTLS {
		return errors.New("-cert-out needs -tls")
	}
	users := defaultUsers
	if *usersFile != "" {
		var err error
		if users, err = readUsers(*usersFile); err != nil {
			return err
		}
	}
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if *notifyCA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(*notifyCA)
		if err != nil {
			return fmt.Errorf("notify CA: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("notify CA %s: no PEM certificates", *notifyCA)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}

	fg := fakegraph.New(fakegraph.Options{
		Tenant:          *tenant,
		Apps:            map[string]string{*clientID: *secret},
		Accounts:        accounts,
		Users:           users,
		TokenLifetime:   *tokenLife,
		HTTPClient:      client,
		AllowHTTPNotify: *allowHTTP,
		Log:             log,
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
	scheme := "http"
	if *useTLS {
		scheme = "https"
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
		cert, pem, err := fakegraph.SelfSignedCert(hosts...)
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
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	base := scheme + "://" + net.JoinHostPort(host, port)

	srv := &http.Server{
		Handler:           fg.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	fmt.Fprintln(stdout, base)
	log.Info("fakegraph ready",
		"graph", base+"/v1.0",
		"authority_host", base+"/",
		"token_endpoint", base+"/"+*tenant+"/oauth2/v2.0/token",
		"control", base+"/_fake/",
		"tenant", *tenant, "client_id", *clientID,
		"accounts", accounts.String(), "users", len(users), "cert", *certOut)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info("fakegraph stopped")
	return err
}

func readUsers(path string) ([]fakegraph.User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	var users []fakegraph.User
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&users); err != nil {
		return nil, fmt.Errorf("users %s: %w", path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("users %s: no users", path)
	}
	var errs []error
	for _, u := range users {
		errs = append(errs, u.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("users %s: %w", path, err)
	}
	return users, nil
}
