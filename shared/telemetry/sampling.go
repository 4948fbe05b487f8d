package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// samplerFromEnv reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as
// the specification names them (default parentbased_always_on). The SDK
// would read them too, but silently falls back on a bad value; here a bad
// value is a start-up error, and the sampler is known to the process, so
// that an instrumentation can ask it before starting a span (Sampler).
func samplerFromEnv(env func(string) string) (sdktrace.Sampler, error) {
	name := env("OTEL_TRACES_SAMPLER")
	ratio := 1.0
	if arg := env("OTEL_TRACES_SAMPLER_ARG"); arg != "" && (name == "traceidratio" || name == "parentbased_traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("setting OTEL_TRACES_SAMPLER_ARG: want a ratio from 0 to 1, got %q", arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	}
	return nil, fmt.Errorf("setting OTEL_TRACES_SAMPLER: unknown sampler %q (want always_on, always_off, traceidratio or their parentbased_ forms)", name)
}

// Sampler returns the sampler spans are started with (nil when tracing
// is off). An instrumentation on a hot path may ask it first, with ids
// from NewIDs, and leave the SDK out of requests it drops; a span it
// then starts with WithIDs gets those ids, so the SDK decides the same.
func (t *Telemetry) Sampler() sdktrace.Sampler { return t.sampler }

// NewIDs returns random trace and span ids, cheaply: math/rand/v2's
// per-thread generator, no lock.
func NewIDs() (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	var sid trace.SpanID
	binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
	binary.BigEndian.PutUint64(tid[8:], rand.Uint64())
	for sid == (trace.SpanID{}) {
		binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	}
	if tid == (trace.TraceID{}) {
		tid[15] = 1
	}
	return tid, sid
}

type presetKey struct{}

type presetIDs struct {
	tid trace.TraceID
	sid trace.SpanID
}

// WithIDs returns a context under which the next root span started from
// this package's provider takes trace id tid and span id sid.
func WithIDs(ctx context.Context, tid trace.TraceID, sid trace.SpanID) context.Context {
	return context.WithValue(ctx, presetKey{}, presetIDs{tid, sid})
}

// idGenerator gives a root span the ids WithIDs preset, else random ones.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p, ok := ctx.Value(presetKey{}).(presetIDs); ok {
		return p.tid, p.sid
	}
	return NewIDs()
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	_, sid := NewIDs()
	return sid
}

// IDGenerator returns the id generator this package's provider uses: it
// honours WithIDs. For tests that build their own provider.
func IDGenerator() sdktrace.IDGenerator { return idGenerator{} }
