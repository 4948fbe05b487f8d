// Command harness is edgeshop's benchmark harness (`make bench`). With no
// subcommand (or `run`) it orchestrates every scenario: it starts the
// origins, edgeshop's proxy, nginx, Varnish, HAProxy and a bare fasthttp
// server on 127.0.0.1, runs bounded load against them, stops everything and
// writes benchmarks/results/<date>.json, .md and charts. The subcommands
// `load` (the load generator, run pinned to its own core) and `bare` (the
// fixed-body fasthttp server, the ceiling) are what it starts itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "load" || args[0] == "bare" || args[0] == "report") {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "run":
		err = runBench(ctx, args)
	case "load":
		err = runLoad(ctx, args)
	case "bare":
		err = runBare(ctx, args)
	case "report":
		err = runReport(args)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
