// Command blfgw is the BLF presence gateway: desk phones subscribe to it for
// their colleagues' lamps, and PBXes publish call state to it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// Usage and config problems were already printed, one per line.
		if !errors.Is(err, errUsage) && !errors.As(err, new(errConfig)) {
			fmt.Fprintln(os.Stderr, "blfgw:", err)
		}
		os.Exit(exitCode(err))
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  blfgw serve -config FILE [-sip LIST] [-http ADDR] [-db PATH]
  blfgw demo [-config FILE] [-sip LIST] [-http ADDR] [-db PATH] [-pace N] [-seed N]
  blfgw check-config FILE
  blfgw import-genesys-mappings FILE
  blfgw version
`)
}
