package telemetry

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestSamplerFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, arg string
		want      string // the sampler's Description, or an error's text
	}{
		{"", "", "ParentBased{root:AlwaysOnSampler"},
		{"parentbased_traceidratio", "0.1", "ParentBased{root:TraceIDRatioBased{0.1}"},
		{"traceidratio", "0.25", "TraceIDRatioBased{0.25}"},
		{"always_off", "", "AlwaysOffSampler"},
		{"parentbased_traceidratio", "", "ParentBased{root:TraceIDRatioBased{1}"},
		{"parentbased_traceidratio", "1.5", "OTEL_TRACES_SAMPLER_ARG"},
		{"parentbased_traceidratio", "ten", "OTEL_TRACES_SAMPLER_ARG"},
		{"sometimes", "", "OTEL_TRACES_SAMPLER"},
	} {
		env := map[string]string{"OTEL_TRACES_SAMPLER": tc.name, "OTEL_TRACES_SAMPLER_ARG": tc.arg}
		s, err := samplerFromEnv(func(k string) string { return env[k] })
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = s.Description()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s=%q: got %q, want %q", tc.name, tc.arg, got, tc.want)
		}
	}
}

// TestPresetIDs: a root span started under WithIDs has those ids; one
// started without gets fresh random ones.
func TestPresetIDs(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(IDGenerator()))
	defer tp.Shutdown(context.Background())
	tid, sid := NewIDs()
	_, span := tp.Tracer("t").Start(WithIDs(context.Background(), tid, sid), "preset")
	if sc := span.SpanContext(); sc.TraceID() != tid || sc.SpanID() != sid {
		t.Errorf("span ids %s/%s, want %s/%s", sc.TraceID(), sc.SpanID(), tid, sid)
	}
	_, child := tp.Tracer("t").Start(trace.ContextWithSpan(context.Background(), span), "child")
	if sc := child.SpanContext(); sc.TraceID() != tid || sc.SpanID() == sid || !sc.SpanID().IsValid() {
		t.Errorf("child %s/%s: want trace %s and a span id of its own", sc.TraceID(), sc.SpanID(), tid)
	}
	_, other := tp.Tracer("t").Start(context.Background(), "fresh")
	if sc := other.SpanContext(); sc.TraceID() == tid || !sc.TraceID().IsValid() {
		t.Errorf("unpreset span got trace %s", sc.TraceID())
	}
}
