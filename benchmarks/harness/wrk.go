package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what the harness reads from wrk's output (run with
// --latency).
type wrkResult struct {
	Requests     int64
	Seconds      float64
	RPS          float64
	P50, P90     float64 // ms
	P99, Max     float64
	Non2xx       int64
	SocketErrors int64
}

// parseWrk reads wrk 4's report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	sawRPS := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "Latency" && len(f) >= 4: // Latency avg stdev max
			r.Max = parseWrkDuration(f[3])
		case f[0] == "50%" && len(f) == 2:
			r.P50 = parseWrkDuration(f[1])
		case f[0] == "90%" && len(f) == 2:
			r.P90 = parseWrkDuration(f[1])
		case f[0] == "99%" && len(f) == 2:
			r.P99 = parseWrkDuration(f[1])
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.ParseInt(f[0], 10, 64)
			r.Seconds = parseWrkDuration(strings.TrimSuffix(f[3], ",")) / 1000
		case f[0] == "Requests/sec:" && len(f) == 2:
			r.RPS, _ = strconv.ParseFloat(f[1], 64)
			sawRPS = true
		case f[0] == "Non-2xx" && len(f) >= 5:
			r.Non2xx, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		case f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				r.SocketErrors += n
			}
		}
	}
	if !sawRPS {
		return r, fmt.Errorf("no Requests/sec in wrk's output: %q", out)
	}
	return r, nil
}

// parseWrkDuration reads wrk's 590.31us, 1.20ms, 2.00s, 1.00m as
// milliseconds (0 when unreadable).
func parseWrkDuration(s string) float64 {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0
			}
			return x * float64(u.unit) / float64(time.Millisecond)
		}
	}
	return 0
}
