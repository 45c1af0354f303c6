package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/blfgw/blfgw/configs"
	"github.com/blfgw/blfgw/sip/office"
)

// demoStartup bounds the wait for the gateway's /healthz.
const demoStartup = 30 * time.Second

// demo runs the gateway, exactly as serve does, on a fresh database beside
// a simulated office (sip/office) that places calls over SIP and changes
// statuses over the HTTP API, so a newcomer sees the lamps move without a
// phone. Ctrl-C stops the office first, so it can end its calls, then the
// gateway.
func demo(ctx context.Context, args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	path := fl.String("config", "configs/example.toml", "TOML configuration `file`")
	db := fl.String("db", "var/demo.db", "SQLite database `path`, deleted at every start")
	sipList := fl.String("sip", "udp:127.0.0.1:5060,tcp:127.0.0.1:5060", "SIP listeners, comma separated (overrides sip.listen); one must be udp")
	httpAddr := fl.String("http", "", "HTTP listen `address` (overrides http.listen)")
	pace := fl.Float64("pace", 1, "time scale of the office: 1 is realistic, 0.1 ten times faster")
	seed := fl.Int64("seed", 0, "random seed of the office (0: different every run)")
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "blfgw demo: unexpected argument %q\n", fl.Arg(0))
		return errUsage
	}
	if !(*pace > 0 && *pace <= 100) {
		fmt.Fprintf(stderr, "blfgw demo: -pace must be above 0 and at most 100, not %v\n", *pace)
		return errUsage
	}
	cfg, err := loadConfig(*path, *sipList, *httpAddr, *db)
	if err != nil {
		printConfigErr(stderr, err)
		return errConfig{err}
	}
	o, err := demoOffice(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "blfgw demo:", err)
		return errUsage
	}
	if same, err := storeDB(*path, *db); err != nil {
		return err
	} else if same {
		fmt.Fprintf(stderr, "blfgw demo: -db %s is the configuration's store.path; the demo deletes its database at every start, so give it another\n", *db)
		return errUsage
	}
	if err := freshDB(*db); err != nil {
		return err
	}

	out := &lockedWriter{w: stderr}
	o.Pace, o.Seed = *pace, *seed
	o.Log = newLogger(cfg.Log, out).With("component", "office")
	serveArgs := []string{"-config", *path, "-sip", *sipList, "-db", *db}
	if *httpAddr != "" {
		serveArgs = append(serveArgs, "-http", *httpAddr)
	}
	// The gateway outlives ctx: it must still be there while the office
	// ends its calls.
	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	defer stopGateway()
	served := make(chan error, 1)
	go func() { served <- serve(gwCtx, serveArgs, out) }()

	gone, err := waitHealthy(ctx, o.HTTP, served)
	switch {
	case gone && err == nil:
		return errors.New("demo: the gateway stopped during start-up")
	case gone:
		return err // the gateway's own words: a port in use, a bad file...
	case err != nil:
		stopGateway()
		if gwErr := <-served; gwErr != nil {
			return gwErr
		}
		if ctx.Err() != nil {
			return nil // Ctrl-C during start-up
		}
		return err
	}
	fmt.Fprintf(out, "demo: open %s/ and sign in as %s (Ctrl-C stops)\n", o.HTTP, signIn(cfg, o.Spare[0]))

	officeCtx, stopOffice := context.WithCancel(ctx)
	defer stopOffice()
	ran := make(chan error, 1)
	go func() { ran <- office.Run(officeCtx, o) }()
	select {
	case err := <-served:
		// The gateway stopped on its own: the office has nobody to talk to.
		stopOffice()
		<-ran
		if err == nil {
			err = errors.New("demo: the gateway stopped")
		}
		return err
	case err = <-ran:
	}
	// The office's last hang-ups and restored statuses were answered a
	// moment ago; give their NOTIFYs and page events that moment to leave
	// before the gateway stops, so no lamp is left showing a call.
	time.Sleep(300 * time.Millisecond)
	stopGateway()
	if gwErr := <-served; err == nil {
		err = gwErr
	}
	return err
}

// demoOffice describes the configured office to the simulator: every
// extension, the first admin spared (the newcomer signs in as them), the
// gateway's SIP over UDP and its HTTP API, as seen from this machine.
func demoOffice(cfg *configs.Config) (office.Options, error) {
	o := office.Options{Domain: cfg.SIP.Domain}
	for _, l := range cfg.Listeners() {
		if l.Transport == "udp" {
			o.SIP = net.JoinHostPort(reachable(l.Host), strconv.Itoa(l.Port))
			break
		}
	}
	if o.SIP == "" {
		return o, errors.New("the simulated office publishes over UDP: give a udp listener in -sip")
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return o, fmt.Errorf("http.listen %q: %w", cfg.HTTP.Listen, err)
	}
	o.HTTP = "http://" + net.JoinHostPort(reachable(host), port)
	spare := ""
	for _, e := range cfg.Extensions {
		o.People = append(o.People, office.Person{Number: e.Number, Name: e.Name, Password: e.Password})
		if spare == "" && e.Role == "admin" {
			spare = e.Number
		}
	}
	if spare == "" {
		spare = cfg.Extensions[0].Number
	}
	o.Spare = []string{spare}
	return o, nil
}

// reachable turns a wildcard listen address into one to connect to.
func reachable(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}

// signIn says how to sign in as number: the password itself only when the
// file holds it inline, as the example's do; one kept in a file or the
// environment stays there.
func signIn(cfg *configs.Config, number string) string {
	e, _ := cfg.Extension(number)
	if e.PasswordFile == "" && e.PasswordEnv == "" {
		return number + " with password " + e.Password
	}
	return number + " with that extension's password"
}

// storeDB reports whether db is the database the configuration file
// names for serve, which the demo must never delete.
func storeDB(cfgPath, db string) (bool, error) {
	file, err := configs.ReadFile(cfgPath)
	if err != nil {
		return false, err
	}
	mine, err1 := filepath.Abs(db)
	theirs, err2 := filepath.Abs(file.Store.Path)
	if err := errors.Join(err1, err2); err != nil {
		return false, fmt.Errorf("demo database: %w", err)
	}
	return mine == theirs, nil
}

// freshDB deletes the last run's database, so every run starts the same.
func freshDB(db string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("demo: delete the last run's database: %w", err)
		}
	}
	return nil
}

// waitHealthy polls /healthz until the gateway answers 200; SIP is
// listening by then, since serve starts HTTP only once SIP is ready. gone
// says that serve returned meanwhile, with err its result.
func waitHealthy(ctx context.Context, base string, served <-chan error) (gone bool, err error) {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(demoStartup)
	for {
		if res, err := hc.Get(base + "/healthz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return false, nil
			}
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("demo: %s/healthz did not answer 200 within %v", base, demoStartup)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-served:
			return true, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lockedWriter lets the gateway's log and the office's share stderr
// without interleaving their lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
