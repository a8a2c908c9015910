// Command ferretdb-local runs FerretDB with its SQLite backend on loopback, so that the project's
// demo and tests have a real MongoDB-wire server on machines without mongod or Docker.
//
// It embeds the FerretDB library rather than installing FerretDB's own command, whose binary
// needs a version file that a plain `go install` from the module proxy does not provide.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "host:port to listen on (loopback only)")
	dataDir := flag.String("data", "./ferretdb-data", "folder for the SQLite database files")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "ferretdb-local: -listen %q must be a loopback host:port\n", *listen)
		os.Exit(2)
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-local: cannot create %s: %v\n", *dataDir, err)
		os.Exit(1)
	}

	// FerretDB logs every unsupported command (such as the drivers' endSessions) at WARN with a
	// full wire dump; only errors are worth a line here.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-local: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println(server.MongoDBURI())
	if err := server.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-local: %v\n", err)
		os.Exit(1)
	}
}
