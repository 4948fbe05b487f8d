// Package telemetry sets up OpenTelemetry tracing for both binaries: the
// resource that names the process, an OTLP/HTTP exporter configured by the
// standard OTEL_* variables, a bounded batch queue that drops (and counts)
// spans rather than ever making a request wait, and W3C TraceContext +
// Baggage propagation.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultEndpoint is where spans go when no OTEL_EXPORTER_OTLP_*ENDPOINT
// is set: a collector (or Jaeger) on loopback.
const DefaultEndpoint = "http://127.0.0.1:4318"

// Options name the process.
type Options struct {
	Service string // service.name unless OTEL_SERVICE_NAME says otherwise
	Version string // service.version
	// Getenv reads the environment; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// Log takes warnings about settings; nil means slog.Default().
	Log *slog.Logger
}

// Telemetry is a process's tracing set-up. The zero value is not usable;
// a Telemetry from Setup with the SDK disabled traces nothing.
type Telemetry struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	sdk        *sdktrace.TracerProvider // nil when disabled
	sampler    sdktrace.Sampler         // nil when disabled
	queue      *queue                   // nil when disabled
	res        *resource.Resource       // nil when disabled
}

// Setup reads the OTEL_* variables and returns the process's tracing. It
// also installs the provider and propagator as OpenTelemetry's globals, for
// libraries that look there. Nothing here dials the collector: a collector
// that is down costs dropped spans, never a failed start.
func Setup(ctx context.Context, opt Options) (*Telemetry, error) {
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	t := &Telemetry{
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(env("OTEL_TRACES_EXPORTER"), "none") {
		t.provider = noop.NewTracerProvider()
		t.install()
		return t, nil
	}

	res, err := newResource(ctx, opt, env)
	if err != nil {
		return nil, err
	}
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	exp, err := newExporter(env, log)
	if err != nil {
		return nil, err
	}
	qopt, err := queueOptionsFromEnv(env)
	if err != nil {
		return nil, err
	}
	// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, default
	// parentbased_always_on.
	t.sampler, err = samplerFromEnv(env)
	if err != nil {
		return nil, err
	}
	t.queue = newQueue(exp, qopt)
	// What the provider makes of res (WithResource merges the
	// environment's in), for spans built outside it (Resource).
	if t.res, err = resource.Merge(resource.Environment(), res); err != nil {
		t.res = res
	}
	t.sdk = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(t.queue),
		sdktrace.WithSampler(t.sampler), sdktrace.WithIDGenerator(idGenerator{}))
	t.provider = t.sdk
	t.install()
	return t, nil
}

// newExporter returns the OTLP/HTTP exporter the OTEL_EXPORTER_OTLP_*
// variables describe: edgeshop's own (otlp.go), which writes the protobuf
// request directly. Spans are worth less than requests: it never retries,
// so a dead collector fails each batch quickly and the queue keeps moving.
//
// EDGESHOP_OTLP_EXPORTER=sdk chose the SDK's otlptracehttp exporter until
// it was taken out of the binaries; what edgeshop's sends decodes to what
// that one sent (TestEncoderMatchesTheSDK), so the setting is kept as a
// warning rather than a start that fails.
func newExporter(env func(string) string, log *slog.Logger) (sdktrace.SpanExporter, error) {
	cfg, err := otlpConfigFromEnv(env)
	if err != nil {
		return nil, err
	}
	switch v := env("EDGESHOP_OTLP_EXPORTER"); {
	case v == "" || strings.EqualFold(v, "edgeshop"):
	case strings.EqualFold(v, "sdk"):
		log.Warn("EDGESHOP_OTLP_EXPORTER=sdk: the SDK's exporter is no longer built in; edgeshop's sends the same OTLP/HTTP requests")
	default:
		log.Warn("EDGESHOP_OTLP_EXPORTER: unknown value, edgeshop's exporter is used", "value", v)
	}
	return newOTLPExporter(cfg), nil
}

func (t *Telemetry) install() {
	otel.SetTracerProvider(t.provider)
	otel.SetTextMapPropagator(t.propagator)
}

func newResource(ctx context.Context, opt Options, env func(string) string) (*resource.Resource, error) {
	if opt.Version == "" {
		opt.Version = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			opt.Version = bi.Main.Version
		}
	}
	host, _ := os.Hostname()
	instance := fmt.Sprintf("%s-%d", host, os.Getpid())
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(
			semconv.ServiceName(opt.Service),
			semconv.ServiceVersion(opt.Version),
			semconv.ServiceInstanceID(instance),
		),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("setting OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME: %w", err)
	}
	return res, nil
}

// TracerProvider returns the provider spans start from.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.provider }

// Processor returns the span processor finished spans go to (the export
// queue), for instrumentation that builds its spans itself
// (tracing.Direct); nil when tracing is disabled.
func (t *Telemetry) Processor() sdktrace.SpanProcessor {
	if t.queue == nil {
		return nil
	}
	return t.queue
}

// Resource returns the resource spans are exported with; nil when tracing
// is disabled.
func (t *Telemetry) Resource() *resource.Resource { return t.res }

// Tracer returns a tracer for the named instrumentation scope.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.provider.Tracer(name) }

// Propagator returns the W3C TraceContext + Baggage propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// Dropped is the number of finished spans that never reached the
// collector: the queue was full, or their export failed.
func (t *Telemetry) Dropped() int64 {
	if t.queue == nil {
		return 0
	}
	return t.queue.dropped.Load()
}

// Shutdown exports what is queued, within ctx's deadline, and stops.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// queueOptionsFromEnv reads the standard OTEL_BSP_* variables.
func queueOptionsFromEnv(env func(string) string) (queueOptions, error) {
	o := queueOptions{size: 2048, batch: 512, delay: 5 * time.Second, timeout: 30 * time.Second}
	if v := env("OTEL_EXPORTER_OTLP_TIMEOUT"); v != "" {
		// The exporter reads it too; the queue bounds each export by it.
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return o, fmt.Errorf("setting OTEL_EXPORTER_OTLP_TIMEOUT: want milliseconds above zero, got %q", v)
		}
		o.timeout = time.Duration(ms) * time.Millisecond
	}
	for _, c := range []struct {
		name string
		ms   bool
		dst  any
	}{
		{"OTEL_BSP_MAX_QUEUE_SIZE", false, &o.size},
		{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", false, &o.batch},
		{"OTEL_BSP_SCHEDULE_DELAY", true, &o.delay},
		{"OTEL_BSP_EXPORT_TIMEOUT", true, &o.timeout},
	} {
		v := env(c.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("setting %s: want a whole number above zero, got %q", c.name, v)
		}
		switch d := c.dst.(type) {
		case *int:
			*d = n
		case *time.Duration:
			*d = time.Duration(n) * time.Millisecond
		}
	}
	o.batch = min(o.batch, o.size)
	return o, nil
}

// Enabled reports whether spans are recorded and exported at all
// (OTEL_SDK_DISABLED=true turns them off). When not, callers can leave
// their instrumentation out of the request path entirely.
func (t *Telemetry) Enabled() bool { return t.sdk != nil }
