package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// failingExporter fails every export, as a dead collector does.
type failingExporter struct{ calls atomic.Int64 }

func (e *failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	e.calls.Add(1)
	return errors.New("connection refused")
}
func (e *failingExporter) Shutdown(context.Context) error { return nil }

// blockedExporter never returns until released: a collector that hangs.
type blockedExporter struct{ release chan struct{} }

func (e *blockedExporter) ExportSpans(ctx context.Context, _ []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}
func (e *blockedExporter) Shutdown(context.Context) error { return nil }

func TestDroppedSpansAreCounted(t *testing.T) {
	for _, tc := range []struct {
		name string
		exp  sdktrace.SpanExporter
		opt  queueOptions
		want int64
	}{
		{"export fails", &failingExporter{}, queueOptions{size: 100, batch: 10, delay: time.Hour, timeout: time.Second}, 25},
		// One batch of 1 is stuck in export; 2 wait in the queue; the rest
		// cannot be queued.
		{"queue full", &blockedExporter{release: make(chan struct{})}, queueOptions{size: 2, batch: 1, delay: time.Hour, timeout: time.Hour}, 22},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(tc.exp, tc.opt)
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(q))
			tr := tp.Tracer("test")
			start := time.Now()
			for range 25 {
				_, s := tr.Start(context.Background(), "op")
				s.End()
				time.Sleep(time.Millisecond) // let the worker take the first one
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("ending 25 spans took %s: the queue blocked", d)
			}
			if b, ok := tc.exp.(*blockedExporter); ok {
				// A slow worker may take its first span late: one more fits.
				if got := q.dropped.Load(); got != tc.want && got != tc.want+1 {
					t.Errorf("dropped %d, want %d", got, tc.want)
				}
				close(b.release)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(ctx)
			if _, ok := tc.exp.(*failingExporter); ok {
				if got := q.dropped.Load(); got != tc.want {
					t.Errorf("dropped %d, want %d", got, tc.want)
				}
			}
		})
	}
}

func TestDisabledIsNoop(t *testing.T) {
	env := map[string]string{"OTEL_SDK_DISABLED": "true"}
	tel, err := Setup(context.Background(), Options{Service: "test", Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if tel.Enabled() {
		t.Error("enabled with OTEL_SDK_DISABLED=true")
	}
	_, s := tel.Tracer("x").Start(context.Background(), "op")
	if s.IsRecording() {
		t.Error("span recording with the SDK disabled")
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestBadQueueSettingNamesIt(t *testing.T) {
	env := map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "lots"}
	_, err := Setup(context.Background(), Options{Service: "test", Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err == nil || !strings.Contains(err.Error(), "OTEL_BSP_MAX_QUEUE_SIZE") {
		t.Errorf("error %v, want one naming OTEL_BSP_MAX_QUEUE_SIZE", err)
	}
}

func TestLogLinesCarryTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "test")
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "request")
	span.End()
	sc := span.SpanContext()
	for _, want := range []string{`"trace_id":"` + sc.TraceID().String(), `"span_id":"` + sc.SpanID().String()} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line %s lacks %s", buf.String(), want)
		}
	}
	buf.Reset()
	log.Info("no span")
	if strings.Contains(buf.String(), "trace_id") {
		t.Errorf("log line without a span has a trace_id: %s", buf.String())
	}
}

// TestSDKExporterSettingStillStarts: EDGESHOP_OTLP_EXPORTER=sdk named the
// SDK's exporter, no longer built in. A process with it set still starts,
// sends its spans with edgeshop's exporter and says so in a warning; no
// warning without it.
func TestSDKExporterSettingStillStarts(t *testing.T) {
	for _, tc := range []struct{ value, warn string }{
		{"sdk", "no longer built in"},
		{"edgeshop", ""},
		{"", ""},
		{"grpc", "unknown value"},
	} {
		var buf bytes.Buffer
		env := map[string]string{"EDGESHOP_OTLP_EXPORTER": tc.value, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
		tel, err := Setup(context.Background(), Options{Service: "test", Log: slog.New(slog.NewTextHandler(&buf, nil)),
			Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
		if err != nil {
			t.Fatalf("%q: %v", tc.value, err)
		}
		if _, ok := tel.queue.exp.(*otlpExporter); !ok {
			t.Errorf("%q: exporter %T, want edgeshop's", tc.value, tel.queue.exp)
		}
		if tc.warn == "" && buf.Len() > 0 || tc.warn != "" && !strings.Contains(buf.String(), tc.warn) {
			t.Errorf("%q: logged %q, want %q", tc.value, buf.String(), tc.warn)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = tel.Shutdown(ctx)
		cancel()
	}
}
