package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/benchmarks/harness/internal/load"
)

// runLoad is `harness load -spec FILE`: one load run, its result as JSON on
// standard output.
func runLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	specFile := fs.String("spec", "", "JSON file with the load.Spec")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *specFile == "" {
		return errors.New("-spec is required")
	}
	b, err := os.ReadFile(*specFile)
	if err != nil {
		return err
	}
	var spec load.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", *specFile, err)
	}
	// A hard bound whatever happens: the duration plus the request timeout
	// plus a margin.
	ctx, cancel := context.WithTimeout(ctx, spec.Duration+spec.Timeout+30*time.Second)
	defer cancel()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	res, err := load.Run(ctx, spec)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// runBare is `harness bare -listen ADDR -body FILE`: a fasthttp server that
// answers every request with the same body from memory, the ceiling a
// cache's hit path is compared with.
func runBare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:19793", "listen address")
	bodyFile := fs.String("body", "", "file whose content is every response's body")
	contentType := fs.String("content-type", "application/json", "Content-Type of the answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler: func(c *fasthttp.RequestCtx) {
			c.Response.Header.SetContentType(*contentType)
			c.Response.SetBodyRaw(body)
		},
		Name:        "bare",
		IdleTimeout: 90 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(*listen) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return srv.ShutdownWithContext(sctx)
	}
}
