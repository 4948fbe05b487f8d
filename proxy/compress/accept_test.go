package compress_test

import (
	"regexp"
	"strings"
	"testing"

	"edgeshop/proxy/compress"
)

func TestPreferred(t *testing.T) {
	br, gz, id := compress.Brotli, compress.Gzip, compress.Identity
	for _, tc := range []struct {
		lines []string // nil: no field
		want  compress.Coding
	}{
		{nil, id},
		{[]string{""}, id},
		{[]string{" , ,"}, id},
		{[]string{"br"}, br},
		{[]string{"gzip"}, gz},
		{[]string{"x-gzip"}, gz},
		{[]string{"GZip"}, gz},
		{[]string{"gzip, br"}, br},       // equal weights: br
		{[]string{"br;q=0.9, gzip"}, gz}, // weights
		{[]string{"br;q=0.5, gzip;q=0.500"}, br},
		{[]string{"gzip ; Q = 0.8 , br;q=0.7"}, gz},
		{[]string{"br;q=0"}, id},
		{[]string{"gzip;q=0"}, id},
		{[]string{"gzip;q=0.000, br;q=0."}, id},
		{[]string{"gzip;q=0.001"}, gz},
		{[]string{"identity"}, id},
		{[]string{"identity;q=0"}, id}, // nothing else acceptable: identity all the same
		{[]string{"*"}, br},
		{[]string{"*;q=0"}, id},
		{[]string{"*;q=0.5, gzip"}, gz},
		{[]string{"br;q=0, *"}, gz},
		{[]string{"gzip;q=0, *;q=0.1"}, br},
		{[]string{"gzip;q=0.5, identity"}, id}, // identity weighted above
		{[]string{"gzip;q=0.5, identity;q=0.5"}, gz},
		{[]string{"gzip, identity;q=0"}, gz},
		{[]string{"deflate, compress"}, id},
		{[]string{"zstd, gzip;q=0.8"}, gz},
		{[]string{"br;q=2"}, id}, // invalid weight: refused
		{[]string{"br;q=abc, gzip"}, gz},
		{[]string{"br;q=1.001"}, id},
		{[]string{"br;q=0.0001"}, id},
		{[]string{"br;q=1.000"}, br},
		{[]string{"br;level=5"}, br},
		{[]string{"gzip", "br"}, br},             // lines joined
		{[]string{"gzip;q=0.5", "gzip;q=0"}, id}, // twice: the lower weight
		{[]string{"br, br;q=0", "gzip;q=0.2"}, gz},
		{[]string{"\tbr\t;\tq=0.3\t"}, br},
		{[]string{"brotli, gzips, xgzip"}, id},
	} {
		var lines [][]byte
		for _, l := range tc.lines {
			lines = append(lines, []byte(l))
		}
		if got := compress.Preferred(lines); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.lines, got, tc.want)
		}
	}
}

func TestPreferredAllocatesNothing(t *testing.T) {
	lines := [][]byte{[]byte("gzip;q=0.8, deflate, BR;q=0.9, *;q=0.1, identity;q=0.5")}
	if n := testing.AllocsPerRun(100, func() { compress.Preferred(lines) }); n != 0 {
		t.Errorf("%.1f allocations", n)
	}
}

// Seeds beyond these live in testdata/fuzz/FuzzPreferred. The parser is
// checked against a plain one written from RFC 9110 §12.5.3 with the
// standard library.
func FuzzPreferred(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br", "br;q=0, *", "*;q=0", "gzip;q=0.5, identity", "x-gzip;Q=1.000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		lines := [][]byte{[]byte(v)}
		got := compress.Preferred(lines)
		if want := reference(v); got != want {
			t.Fatalf("%q: %v, reference says %v", v, got, want)
		}
		// A refusal of both codings always wins, whatever comes before.
		if got := compress.Preferred([][]byte{[]byte(v), []byte("br;q=0, gzip;q=0")}); got != compress.Identity {
			t.Fatalf("%q then a refusal: %v", v, got)
		}
	})
}

var qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

func reference(v string) compress.Coding {
	q := map[string]int{}
	for _, member := range strings.Split(v, ",") {
		parts := strings.Split(member, ";")
		name := strings.ToLower(strings.Trim(parts[0], " \t"))
		if name == "" {
			continue
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		w := 1000
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(p, "=")
			if strings.ToLower(strings.Trim(k, " \t")) != "q" {
				continue
			}
			val = strings.Trim(val, " \t")
			w = 0
			if qvalueRE.MatchString(val) {
				w = int(1000*parseFloat(val) + 0.5)
			}
			break
		}
		if old, ok := q[name]; !ok || w < old {
			q[name] = w
		}
	}
	weight := func(name string) int {
		if w, ok := q[name]; ok {
			return w
		}
		return q["*"] // 0 when absent
	}
	br, gz := weight("br"), weight("gzip")
	id, idListed := q["identity"]
	best := max(br, gz)
	switch {
	case best == 0, idListed && id > best:
		return compress.Identity
	case br >= gz:
		return compress.Brotli
	}
	return compress.Gzip
}

func parseFloat(s string) float64 {
	whole, frac, _ := strings.Cut(s, ".")
	f := float64(whole[0] - '0')
	scale := 0.1
	for _, c := range frac {
		f += float64(c-'0') * scale
		scale /= 10
	}
	return f
}
