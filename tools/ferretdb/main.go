// Command verity-ferretdb runs FerretDB v1 (SQLite backend) as Verity's embedded MongoDB.
//
// It is a thin main over FerretDB's embeddable package rather than FerretDB's own cmd/ferretdb:
// a binary whose main module is FerretDB panics at start-up unless it was built from a git
// checkout ("Invalid build/version/version.txt"), and Go 1.24+ records the module that holds
// the main package as the main module even when it is built from a wrapper. With our own
// main, FerretDB's version package skips that check.
//
// Contract with the parent process (src/infra/embedded/ferretdb.ts):
//   - it prints one line "listening mongodb://host:port/" on stdout once it accepts connections;
//   - with --lifeline it exits when its stdin closes, so it never outlives a parent that was killed;
//   - SIGTERM or SIGINT close every connection and the SQLite files, then it exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free port)")
	sqliteURL := flag.String("sqlite-url", "", "SQLite directory URI, for example file:/var/lib/verity/db/ (trailing slash required)")
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	lifeline := flag.Bool("lifeline", false, "exit when stdin closes")
	flag.Parse()

	if *sqliteURL == "" {
		fmt.Fprintln(os.Stderr, "verity-ferretdb: --sqlite-url is required")
		os.Exit(2)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "verity-ferretdb: --log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *lifeline {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: *sqliteURL,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "verity-ferretdb: %v\n", err)
		os.Exit(1)
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until the TCP listener is ready.
	fmt.Printf("listening %s\n", f.MongoDBURI())

	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "verity-ferretdb: %v\n", err)
		os.Exit(1)
	}
}
