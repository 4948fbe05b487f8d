package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporter sends spans to an OTLP/HTTP collector as protobuf
// (POST {endpoint}, application/x-protobuf), encoded by otlpEncoder. It
// reads the same OTEL_EXPORTER_OTLP_* variables as the SDK's otlptracehttp
// exporter (see otlpConfigFromEnv), TLS client settings included, and is
// the only exporter built in: the SDK's linked gRPC and its generated
// code into both binaries (40 % of the proxy's file, 2-6 MiB of its
// resident memory, which the memory goal of benchmarks/ had no room
// for). It never retries: the queue counts a failed batch as dropped.
type otlpExporter struct {
	cfg    otlpConfig
	client *http.Client

	mu   sync.Mutex // one export at a time: enc and buf are reused
	enc  otlpEncoder
	buf  bytes.Buffer
	gz   *gzip.Writer
	done bool
}

type otlpConfig struct {
	url     string
	headers map[string]string
	timeout time.Duration
	gzip    bool
	tls     *tls.Config // nil: Go's defaults (the system's roots, no client certificate)
}

func newOTLPExporter(cfg otlpConfig) *otlpExporter {
	return &otlpExporter{cfg: cfg, client: &http.Client{
		Timeout: cfg.timeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     cfg.tls,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}}
}

var errExporterStopped = errors.New("otlp exporter: shut down")

func (x *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done {
		return errExporterStopped
	}
	body := x.enc.encode(spans)
	if x.cfg.gzip {
		x.buf.Reset()
		if x.gz == nil {
			x.gz = gzip.NewWriter(&x.buf)
		} else {
			x.gz.Reset(&x.buf)
		}
		if _, err := x.gz.Write(body); err != nil {
			return err
		}
		if err := x.gz.Close(); err != nil {
			return err
		}
		body = x.buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.cfg.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "edgeshop-otlp-exporter")
	if x.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range x.cfg.headers {
		req.Header.Set(k, v)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp export: %w", err)
	}
	// Read (a bounded part of) the answer so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp export: %s answered %s", x.cfg.url, resp.Status)
	}
	return nil
}

func (x *otlpExporter) Shutdown(context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.done = true
	x.client.CloseIdleConnections()
	return nil
}

// otlpConfigFromEnv reads the exporter's settings the way otlptracehttp
// does: the signal-specific variable (OTEL_EXPORTER_OTLP_TRACES_*) wins
// over the general one (OTEL_EXPORTER_OTLP_*).
//
//   - ENDPOINT: TRACES_ENDPOINT is the URL as it is; the general one is a
//     base URL to which "/v1/traces" is added. Default DefaultEndpoint.
//   - HEADERS: "name=value,name2=value2", values percent-decoded.
//   - TIMEOUT: milliseconds, default 10 s.
//   - COMPRESSION: "gzip" or "none".
//   - CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY: TLS client settings
//     (tlsFromEnv).
//
// Where the SDK logs a setting it cannot use and goes on without it, a
// bad one here is an error that names it: the process does not start.
func otlpConfigFromEnv(env func(string) string) (cfg otlpConfig, err error) {
	get := func(name string) (string, string) {
		if v := env("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
			return v, "OTEL_EXPORTER_OTLP_TRACES_" + name
		}
		return env("OTEL_EXPORTER_OTLP_" + name), "OTEL_EXPORTER_OTLP_" + name
	}
	cfg = otlpConfig{url: DefaultEndpoint + "/v1/traces", timeout: 10 * time.Second}
	if v := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		cfg.url = v
	} else if v := env("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		cfg.url = strings.TrimSuffix(v, "/") + "/v1/traces"
	}
	if u, perr := url.Parse(cfg.url); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("setting OTEL_EXPORTER_OTLP_ENDPOINT: want an http(s) URL, got %q", cfg.url)
	}
	if v, name := get("HEADERS"); v != "" {
		cfg.headers = map[string]string{}
		for _, pair := range strings.Split(v, ",") {
			k, val, found := strings.Cut(pair, "=")
			k = strings.TrimSpace(k)
			if !found || k == "" {
				return cfg, fmt.Errorf("setting %s: want name=value pairs, got %q", name, pair)
			}
			dec, derr := url.PathUnescape(strings.TrimSpace(val))
			if derr != nil {
				return cfg, fmt.Errorf("setting %s: %q: %v", name, pair, derr)
			}
			cfg.headers[k] = dec
		}
	}
	if v, name := get("TIMEOUT"); v != "" {
		ms, perr := strconv.Atoi(v)
		if perr != nil || ms <= 0 {
			return cfg, fmt.Errorf("setting %s: want milliseconds above zero, got %q", name, v)
		}
		cfg.timeout = time.Duration(ms) * time.Millisecond
	}
	switch v, name := get("COMPRESSION"); strings.ToLower(v) {
	case "", "none":
	case "gzip":
		cfg.gzip = true
	default:
		return cfg, fmt.Errorf("setting %s: want gzip or none, got %q", name, v)
	}
	cfg.tls, err = tlsFromEnv(get)
	return cfg, err
}

// tlsFromEnv reads the TLS client settings, each a PEM file: CERTIFICATE
// holds the roots that verify the collector (in place of the system's),
// CLIENT_CERTIFICATE and CLIENT_KEY this process's certificate and key,
// for a collector that asks for one. None set: nil, Go's defaults. They
// apply to an https endpoint; a plain http one does no TLS.
func tlsFromEnv(get func(string) (string, string)) (*tls.Config, error) {
	ca, caVar := get("CERTIFICATE")
	cert, certVar := get("CLIENT_CERTIFICATE")
	key, keyVar := get("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	c := &tls.Config{}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", caVar, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("setting %s: no PEM certificate in %s", caVar, ca)
		}
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("setting %s and %s: %w", certVar, keyVar, err)
		}
		c.Certificates = []tls.Certificate{pair}
	case cert != "":
		return nil, fmt.Errorf("setting %s: a client certificate needs its key in %s", certVar, keyVar)
	case key != "":
		return nil, fmt.Errorf("setting %s: a client key needs its certificate in %s", keyVar, certVar)
	}
	return c, nil
}
