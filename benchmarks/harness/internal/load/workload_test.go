package load

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestScatterIsAPermutation(t *testing.T) {
	for _, n := range []int{1, 2, 7, 10_000, 1_000_003, 3_000_009} {
		if n > 100_000 {
			// Spot-check the big ones: distinct and in range.
			seen := map[int]bool{}
			for r := range 100_000 {
				id := Scatter(r, n)
				if id < 1 || id > n || seen[id] {
					t.Fatalf("n=%d: rank %d → %d (out of range or repeated)", n, r, id)
				}
				seen[id] = true
			}
			continue
		}
		seen := make([]bool, n+1)
		for r := range n {
			id := Scatter(r, n)
			if id < 1 || id > n || seen[id] {
				t.Fatalf("n=%d: rank %d → %d (out of range or repeated)", n, r, id)
			}
			seen[id] = true
		}
	}
}

func TestZipfIsSkewed(t *testing.T) {
	const n, draws = 10_000, 200_000
	z := NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, n)
	counts := map[int]int{}
	for range draws {
		id := z.Next()
		if id < 1 || id > n {
			t.Fatalf("id %d out of 1..%d", id, n)
		}
		counts[id]++
	}
	// The hottest id is rank 0's, and the top 1 % of ids take most draws.
	hottest := Scatter(0, n)
	for id, c := range counts {
		if c > counts[hottest] {
			t.Fatalf("id %d (%d draws) is hotter than rank 0's id %d (%d)", id, c, hottest, counts[hottest])
		}
	}
	top := 0
	for r := range n / 100 {
		top += counts[Scatter(r, n)]
	}
	if share := float64(top) / draws; share < 0.4 || share > 0.9 {
		t.Errorf("top 1%% of ids got %.2f of the draws, want a Zipf-like 0.4..0.9", share)
	}
	if len(counts) < n/10 {
		t.Errorf("only %d distinct ids drawn: the tail is missing", len(counts))
	}
}

func TestWorkloadChecks(t *testing.T) {
	for _, w := range []Workload{
		{Kind: "fixed"},
		{Kind: "zipf", Format: "/p/%d/", N: 10, S: 1},
		{Kind: "unique", Format: "/p/%d/"},
		{Kind: "mix"},
		{Kind: "mix", Mix: &Mix{Catalogue: 10, Categories: 2, S: 1.1, Words: []string{"a"}, Orderable: []int64{1}}},
		{Kind: "other"},
	} {
		if _, err := w.Picker(); err == nil {
			t.Errorf("%+v: accepted", w)
		}
	}
}

func fill(t *testing.T, w Workload, n int) ([]string, []int) {
	t.Helper()
	p, err := w.Picker()
	if err != nil {
		t.Fatal(err)
	}
	src := p.Source(0, rand.New(rand.NewPCG(3, 4)))
	var uris []string
	var classes []int
	var req fasthttp.Request
	for range n {
		req.Reset()
		classes = append(classes, src.Fill(&req))
		uris = append(uris, string(req.RequestURI()))
	}
	return uris, classes
}

func TestUniqueNeverRepeats(t *testing.T) {
	uris, _ := fill(t, Workload{Kind: "unique", Format: "/api/products/%d/", N: 5}, 20_000)
	seen := map[string]bool{}
	for _, u := range uris {
		if seen[u] {
			t.Fatalf("%s sent twice", u)
		}
		seen[u] = true
		if !strings.HasPrefix(u, "/api/products/") || !strings.Contains(u, "/?u=") {
			t.Fatalf("unexpected URI %s", u)
		}
	}
}

func testMix() *Mix {
	return &Mix{Catalogue: 1000, Categories: 15, S: 1.1, Words: []string{"slim", "classic+tee"}, Orderable: []int64{1, 2, 3},
		Users: []User{{Name: "a", Token: "tok-a", AddressID: 11}, {Name: "b", Token: "tok-b", AddressID: 12}}}
}

func TestMixSharesAndRequests(t *testing.T) {
	p, err := Workload{Kind: "mix", Mix: testMix()}.Picker()
	if err != nil {
		t.Fatal(err)
	}
	src := p.Source(0, rand.New(rand.NewPCG(5, 6)))
	const n = 100_000
	counts := make([]int, len(MixClasses))
	writes := 0
	var req fasthttp.Request
	for range n {
		req.Reset()
		c := src.Fill(&req)
		counts[c]++
		cl := MixClasses[c]
		uri := string(req.RequestURI())
		auth := string(req.Header.Peek("Authorization"))
		user := strings.HasPrefix(uri, "/api/cart/") || strings.HasPrefix(uri, "/api/order/")
		if user != (auth != "") {
			t.Fatalf("%s %s: Authorization %q (user routes only)", cl.Name, uri, auth)
		}
		if user && auth != "Bearer tok-a" && auth != "Bearer tok-b" {
			t.Fatalf("%s: bad token %q", cl.Name, auth)
		}
		if cl.Write {
			writes++
			if string(req.Header.Method()) != "POST" || string(req.Header.ContentType()) != "application/json" {
				t.Fatalf("%s: %s %s", cl.Name, req.Header.Method(), req.Header.ContentType())
			}
			var body map[string]any
			if err := json.Unmarshal(req.Body(), &body); err != nil {
				t.Fatalf("%s: body %q: %v", cl.Name, req.Body(), err)
			}
			if cl.Name == "order" {
				a := body["address_id"].(float64)
				if (auth == "Bearer tok-a" && a != 11) || (auth == "Bearer tok-b" && a != 12) {
					t.Fatalf("order with another user's address: %s %v", auth, body)
				}
			}
		} else if string(req.Header.Method()) != "GET" {
			t.Fatalf("%s: method %s", cl.Name, req.Header.Method())
		}
	}
	total := 0
	for _, c := range MixClasses {
		total += c.Weight
	}
	for i, c := range MixClasses {
		want := float64(c.Weight) / float64(total)
		if got := float64(counts[i]) / n; got < want*0.9-0.002 || got > want*1.1+0.002 {
			t.Errorf("%s: share %.3f, want about %.3f", c.Name, got, want)
		}
	}
	if share := float64(writes) / n; share < 0.045 || share > 0.055 {
		t.Errorf("writes are %.3f of the mix, want about 0.05", share)
	}
}
