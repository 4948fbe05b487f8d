package settings

import (
	"fmt"

	"edgeshop/proxy/tracing"
	"edgeshop/shared/config"
)

// The exporter, sampler and service name come from the standard OTEL_*
// variables (shared/telemetry); only the edge's own choice is a flag.
type tracingFlags struct{ incoming string }

func addTracing(set *config.Set) *tracingFlags {
	var f tracingFlags
	set.String(&f.incoming, "trace-incoming", "EDGE_TRACE_INCOMING", "link", "a client's traceparent: link (new trace, linked to the client's) or honour (continue it)")
	return &f
}

func (f *tracingFlags) check(s *Settings) error {
	in, err := tracing.ParseIncoming(f.incoming)
	if err != nil {
		return fmt.Errorf("setting --trace-incoming / EDGE_TRACE_INCOMING: %v", err)
	}
	s.TraceIncoming = in
	return nil
}
