package load

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Workload names which requests a run sends.
type Workload struct {
	// Kind: "fixed" (Path every time), "zipf" (Format with a product id of
	// Zipf popularity among N), "unique" (Format with a uniformly random id
	// among N, plus a query parameter never sent before: every request a
	// cache miss) or "mix" (the shop mix, Mix).
	Kind   string  `json:"kind"`
	Path   string  `json:"path,omitempty"`
	Format string  `json:"format,omitempty"` // e.g. /api/products/%d/
	N      int     `json:"n,omitempty"`      // ids 1..N
	S      float64 `json:"s,omitempty"`      // Zipf exponent (> 1)
	Mix    *Mix    `json:"mix,omitempty"`
}

// Picker makes each connection's request source.
type Picker interface {
	Classes() []string
	Source(worker int, rng *rand.Rand) Source
}

// Source fills the next request of one connection.
type Source interface {
	// Fill writes the next request into req (reset) and returns its class,
	// an index into the picker's Classes.
	Fill(req *fasthttp.Request) int
}

// Picker returns the picker the workload describes.
func (w Workload) Picker() (Picker, error) {
	switch w.Kind {
	case "fixed":
		if w.Path == "" {
			return nil, errors.New("fixed workload without a path")
		}
		return fixed(w.Path), nil
	case "zipf", "unique":
		if w.N <= 0 || w.Format == "" {
			return nil, fmt.Errorf("%s workload needs n and format", w.Kind)
		}
		if w.Kind == "zipf" && w.S <= 1 {
			return nil, errors.New("zipf exponent s must be above 1")
		}
		return ids{w: w}, nil
	case "mix":
		if w.Mix == nil {
			return nil, errors.New("mix workload without a mix")
		}
		return w.Mix.picker()
	}
	return nil, fmt.Errorf("unknown workload kind %q", w.Kind)
}

type fixed string

func (f fixed) Classes() []string              { return []string{"get"} }
func (f fixed) Source(int, *rand.Rand) Source  { return f }
func (f fixed) Fill(req *fasthttp.Request) int { req.SetRequestURI(string(f)); return 0 }

// ids picks product ids for zipf and unique workloads.
type ids struct{ w Workload }

func (p ids) Classes() []string { return []string{"get"} }

func (p ids) Source(worker int, rng *rand.Rand) Source {
	s := &idSource{w: p.w, worker: worker}
	if p.w.Kind == "zipf" {
		s.zipf = NewZipf(rng, p.w.S, p.w.N)
	} else {
		s.rng = rng
	}
	return s
}

type idSource struct {
	w      Workload
	worker int
	zipf   *Zipf
	rng    *rand.Rand
	n      uint64
	buf    []byte
}

func (s *idSource) Fill(req *fasthttp.Request) int {
	var id int
	if s.zipf != nil {
		id = s.zipf.Next()
	} else {
		id = 1 + s.rng.IntN(s.w.N)
	}
	s.buf = fmt.Appendf(s.buf[:0], s.w.Format, id)
	if s.w.Kind == "unique" {
		// worker and counter: unique within the run; the run's seed is
		// part of each worker's random source, so add a random tag too.
		s.n++
		s.buf = append(s.buf, "?u="...)
		s.buf = strconv.AppendUint(s.buf, uint64(s.worker), 36)
		s.buf = append(s.buf, '-')
		s.buf = strconv.AppendUint(s.buf, s.n, 36)
		s.buf = append(s.buf, '-')
		s.buf = strconv.AppendUint(s.buf, s.rng.Uint64()>>32, 36)
	}
	req.SetRequestURIBytes(s.buf)
	return 0
}

// Zipf picks ids 1..n with Zipf popularity (rank k has weight (1+k)^-s).
// The rank is scattered over the ids, so the hot items are not simply the
// lowest ids (and not neighbours in the database).
type Zipf struct {
	z    *rand.Zipf
	n    int
	step uint64
}

// NewZipf returns a picker over 1..n with exponent s (> 1).
func NewZipf(rng *rand.Rand, s float64, n int) *Zipf {
	return &Zipf{z: rand.NewZipf(rng, s, 1, uint64(n-1)), n: n, step: scatterStep(n)}
}

// Next returns the next id.
func (z *Zipf) Next() int { return scatter(int(z.z.Uint64()), z.n, z.step) }

// Scatter maps rank (0..n-1) to an id in 1..n, one to one.
func Scatter(rank, n int) int { return scatter(rank, n, scatterStep(n)) }

func scatter(rank, n int, step uint64) int {
	return int((uint64(rank)*step)%uint64(n)) + 1
}

// scatterStep is a multiplier coprime with n, so that rank*step mod n is a
// permutation of 0..n-1.
func scatterStep(n int) uint64 {
	step := uint64(1_000_003)
	for gcd(step, uint64(n)) != 1 {
		step += 2
	}
	return step
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
