package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/blfgw/blfgw/api"
	"github.com/blfgw/blfgw/configs"
	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
	"github.com/blfgw/blfgw/sip"
	"github.com/blfgw/blfgw/store"
)

// version is stamped by the Makefile with -ldflags -X.
var version = "dev"

var errUsage = errors.New("usage")

// errConfig marks an invalid configuration, for the exit code.
type errConfig struct{ err error }

func (e errConfig) Error() string { return e.err.Error() }
func (e errConfig) Unwrap() error { return e.err }

func exitCode(err error) int {
	switch {
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, new(errConfig)):
		return 3
	}
	return 1
}

// run is main without the process: tests call it with their own context,
// arguments and output.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "demo":
		return demo(ctx, args[1:], stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "import-genesys-mappings":
		return importGenesysMappings(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "blfgw", versionString())
		return nil
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	fmt.Fprintf(stderr, "blfgw: unknown command %q\n", args[0])
	usage(stderr)
	return errUsage
}

func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && v == "dev" {
				v += "+" + s.Value[:12]
			}
		}
		v += " " + info.GoVersion
	}
	return v
}

func checkConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: blfgw check-config FILE")
		return errUsage
	}
	cfg, err := configs.Load(args[0])
	if err != nil {
		printConfigErr(stderr, err)
		return errConfig{err}
	}
	fmt.Fprintf(stdout, "%s: ok (%d extensions in %d departments)\n", args[0], len(cfg.Extensions), len(cfg.Departments))
	return nil
}

func printConfigErr(w io.Writer, err error) {
	var ps configs.Errors
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.Error())
		}
		fmt.Fprintf(w, "%d problem(s)\n", len(ps))
		return
	}
	fmt.Fprintln(w, err)
}

// loadConfig reads the file and applies the command-line overrides before
// validating, so a bad flag value is reported like a bad file value.
func loadConfig(path, sipList, httpAddr, db string) (*configs.Config, error) {
	cfg, err := configs.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sipList != "" {
		cfg.SIP.Listen = nil
		for _, l := range strings.Split(sipList, ",") {
			cfg.SIP.Listen = append(cfg.SIP.Listen, strings.TrimSpace(l))
		}
		cfg.MarkOverridden("sip.listen", "-sip flag")
	}
	if httpAddr != "" {
		cfg.HTTP.Listen = httpAddr
		cfg.MarkOverridden("http.listen", "-http flag")
	}
	if db != "" {
		cfg.Store.Path = db
		cfg.MarkOverridden("store.path", "-db flag")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(cfg configs.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "configs/example.toml", "TOML configuration `file`")
	sipList := fs.String("sip", "", "SIP listeners, comma separated, e.g. udp:127.0.0.1:5060,tcp:127.0.0.1:5060 (overrides sip.listen)")
	httpAddr := fs.String("http", "", "HTTP listen `address` (overrides http.listen)")
	db := fs.String("db", "", "SQLite database `path` (overrides store.path)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "blfgw serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := loadConfig(*path, *sipList, *httpAddr, *db)
	if err != nil {
		printConfigErr(stderr, err)
		return errConfig{err}
	}
	log := newLogger(cfg.Log, stderr)
	slog.SetDefault(log)
	log.Info("starting blfgw", "version", versionString(), "config", cfg.Path())

	db0, err := store.Open(ctx, cfg.Store.Path, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := db0.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	dir := newDirectory(cfg)
	if err := db0.SyncDirectory(ctx, dir.departments, dir.storeExtensions()); err != nil {
		return fmt.Errorf("sync extensions into the store: %w", err)
	}

	live := &liveDirectory{}
	live.cur.Store(dir)
	hub := presence.NewHub()
	tracker := dialog.NewTracker(hub)
	settings := presence.NewSettings(hub, settingsStore{db0})
	if err := settings.Load(ctx, departmentNames(cfg), seeds(cfg), policyOptions(cfg)); err != nil {
		return err
	}

	var tlsConf *tls.Config
	if cfg.SIP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.SIP.TLSCert, cfg.SIP.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var listen []sip.Listener
	for _, l := range cfg.Listeners() {
		listen = append(listen, sip.Listener{Transport: l.Transport, Addr: hostPort(l)})
	}
	var devices []sip.Device
	for _, d := range cfg.SIP.Devices {
		devices = append(devices, sip.Device{UserAgent: d.UserAgent, Profile: sip.Profile{Idle: d.Idle, Single: d.SingleDialog}})
	}
	sipSrv, err := sip.New(sip.Options{
		Domain:         cfg.SIP.Domain,
		Listen:         listen,
		Advertise:      cfg.SIP.Advertise,
		TLS:            tlsConf,
		Trusted:        cfg.TrustedNets(),
		Realm:          cfg.SIP.Realm,
		Digest:         cfg.SIP.DigestAlgorithms,
		MinExpires:     time.Duration(cfg.SIP.MinExpires) * time.Second,
		MaxExpires:     time.Duration(cfg.SIP.MaxExpires) * time.Second,
		DefaultExpires: time.Duration(cfg.SIP.DefaultExpires) * time.Second,
		NotifyTimeouts: cfg.SIP.NotifyTimeouts,
		Rate:           cfg.SIP.Rate,
		Burst:          cfg.SIP.Burst,
		Devices:        devices,
		Directory:      live,
		Hub:            hub,
		Tracker:        tracker,
		Store:          sipStore{db0},
		Registrar:      registrar(cfg, db0),
		Proxy:          proxyOptions(cfg, db0, dialog.NewCalls(tracker, nil)),
		Lists:          settings, // the appearance lists the page and the API edit
		ListSuffix:     cfg.SIP.ListSuffix,
		Log:            log,
	})
	if err != nil {
		return err
	}
	key, err := tokenKey(ctx, db0)
	if err != nil {
		return err
	}
	bridge, err := teamsBridge(cfg, db0, hub, log)
	if err != nil {
		return err
	}
	gen, err := genesysBridge(cfg, db0, hub, log)
	if err != nil {
		return err
	}
	if gen != nil {
		if err := checkGenesys(ctx, cfg, gen); err != nil {
			printConfigErr(stderr, err)
			return errConfig{err}
		}
	}
	checks := []api.Check{{Name: "store", Run: db0.Ping}}
	var routes map[string]http.Handler
	if bridge != nil {
		checks = append(checks, api.Check{Name: "teams", Soft: true, Run: func(context.Context) error { return bridge.Health() }})
		routes = map[string]http.Handler{"POST /teams/notify": bridge.Handler()}
	}
	if gen != nil {
		checks = append(checks, api.Check{Name: "genesys", Soft: true, Run: func(context.Context) error { return gen.Health() }})
	}
	httpSrv, err := api.New(api.Options{
		Settings:   settings,
		Hub:        hub,
		Password:   live.password,
		Audit:      auditLog(db0),
		TokenKey:   key,
		Addr:       cfg.HTTP.Listen,
		ConfigPath: cfg.Path(),
		ListURI:    sipSrv.ListURI,
		Version:    versionString(),
		Checks:     checks,
		Routes:     routes,
		Pprof:      cfg.HTTP.Pprof,
		Stats: func() map[string]any {
			m := map[string]any{"publications": tracker.Len()}
			for k, v := range sipSrv.Stats() {
				m[k] = v
			}
			if bridge != nil {
				for k, v := range bridge.Stats() {
					m[k] = v
				}
			}
			if gen != nil {
				for k, v := range gen.Stats() {
					m[k] = v
				}
			}
			return m
		},
		Log: log,
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	// SIGHUP, or a change of the file's content, reloads the configuration.
	rl := &reloader{path: *path, sipFlag: *sipList, httpFlag: *httpAddr, db: *db, log: log,
		store: db0, settings: settings, dir: live, sip: sipSrv, cur: cfg}
	if data, err := os.ReadFile(*path); err == nil {
		rl.hash = sha256.Sum256(data)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				rl.reload(ctx, "SIGHUP")
			}
		}
	})
	wg.Go(func() { rl.watch(ctx, 2*time.Second) })
	wg.Go(func() { returnMemory(ctx, log) })
	errs := make(chan error, 2)
	wg.Go(func() { errs <- sipSrv.Run(ctx) })
	select {
	case <-sipSrv.Ready():
	case err := <-errs:
		cancel()
		wg.Wait()
		return err
	}
	wg.Go(func() { errs <- httpSrv.Run(ctx) })
	if bridge != nil {
		// Graph is never on the phones' path: the bridge runs beside them
		// and its trouble shows in /healthz, not as a failed start.
		wg.Go(func() {
			if err := bridge.Run(ctx); err != nil {
				log.Error("teams bridge stopped", "err", err)
			}
		})
	}
	if gen != nil {
		wg.Go(func() {
			if err := gen.Run(ctx); err != nil {
				log.Error("genesys bridge stopped", "err", err)
			}
		})
	}
	log.Info("blfgw ready", "sip", sipSrv.Bound(), "http", httpSrv.Addr(), "extensions", len(cfg.Extensions))

	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	log.Info("shutting down")
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if first == nil && err != nil {
			first = err
		}
	}
	if first == nil {
		log.Info("stopped; subscriptions are kept for the next start")
	}
	return first
}

func hostPort(l configs.Listen) string {
	h := l.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return fmt.Sprintf("%s:%d", h, l.Port)
}

// returnMemory gives memory back to the system after a burst. A reboot
// storm of phones leaves tens of thousands of SIP transactions alive for
// 32 s (Timer J); Go keeps the heap it grew for them, so the process would
// stay at its peak size long after they are gone.
func returnMemory(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		unused := m.HeapIdle - m.HeapReleased
		if unused > 32<<20 && unused > m.HeapAlloc/4 {
			debug.FreeOSMemory()
			log.Debug("returned unused heap to the system", "mb", unused>>20, "live_mb", m.HeapAlloc>>20)
		}
	}
}
