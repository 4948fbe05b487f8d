package load

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Mix is the shop mix: what many distinct signed-in users of the shop do,
// about 5 % of it writes. Catalogue reads go without a token (they are the
// cacheable part); user routes carry the user's token.
type Mix struct {
	Catalogue  int      `json:"catalogue"`  // products (ids 1..Catalogue)
	Categories int      `json:"categories"` // category ids 1..Categories
	S          float64  `json:"zipf_s"`     // popularity of products (detail, availability)
	Words      []string `json:"words"`      // search terms
	Orderable  []int64  `json:"orderable"`  // products with stock for every order the run may make
	Users      []User   `json:"users"`
}

// User is one simulated customer, registered and signed in before the run.
type User struct {
	Name      string `json:"name"`
	Token     string `json:"token"`
	AddressID int64  `json:"address_id"`
}

// MixClass is one kind of request in the mix and its share (in %).
type MixClass struct {
	Name   string
	Weight int
	Write  bool
}

// MixClasses: the shop mix. Writes (cart add, order create) are 5 %.
var MixClasses = []MixClass{
	{"browse", 10, false},       // GET /api/products/ (20 random)
	{"popular", 3, false},       // GET /api/products/popular/
	{"categories", 2, false},    // GET /api/products/categories/
	{"category", 8, false},      // GET /api/products/category/?category=C&page=P
	{"search", 10, false},       // GET /api/products/search/?q=W
	{"detail", 40, false},       // GET /api/products/{id}/ (Zipf)
	{"availability", 12, false}, // GET /api/products/{id}/availability/ (Zipf)
	{"cart", 7, false},          // GET /api/cart/me/ (token)
	{"cart_count", 3, false},    // GET /api/cart/count/ (token)
	{"cart_add", 3, true},       // POST /api/cart/add/ (token)
	{"order", 2, true},          // POST /api/order/create/ (token)
}

func (m *Mix) picker() (Picker, error) {
	switch {
	case m.Catalogue <= 0 || m.Categories <= 0:
		return nil, errors.New("mix needs a catalogue and categories")
	case len(m.Users) == 0:
		return nil, errors.New("mix needs users")
	case len(m.Words) == 0 || len(m.Orderable) == 0:
		return nil, errors.New("mix needs search words and orderable products")
	case m.S <= 1:
		return nil, errors.New("mix zipf_s must be above 1")
	}
	var cum []int
	total := 0
	for _, c := range MixClasses {
		total += c.Weight
		cum = append(cum, total)
	}
	return &mixPicker{m: m, cum: cum, total: total}, nil
}

type mixPicker struct {
	m     *Mix
	cum   []int
	total int
}

func (p *mixPicker) Classes() []string {
	names := make([]string, len(MixClasses))
	for i, c := range MixClasses {
		names[i] = c.Name
	}
	return names
}

func (p *mixPicker) Source(worker int, rng *rand.Rand) Source {
	return &mixSource{p: p, rng: rng, zipf: NewZipf(rng, p.m.S, p.m.Catalogue)}
}

type mixSource struct {
	p    *mixPicker
	rng  *rand.Rand
	zipf *Zipf
	buf  []byte
	body []byte
}

// pick returns the class index for a number in [0, total).
func (p *mixPicker) pick(x int) int {
	for i, c := range p.cum {
		if x < c {
			return i
		}
	}
	return len(p.cum) - 1
}

func (s *mixSource) Fill(req *fasthttp.Request) int {
	m := s.p.m
	class := s.p.pick(s.rng.IntN(s.p.total))
	b := s.buf[:0]
	var user *User
	switch MixClasses[class].Name {
	case "browse":
		b = append(b, "/api/products/"...)
	case "popular":
		b = append(b, "/api/products/popular/"...)
	case "categories":
		b = append(b, "/api/products/categories/"...)
	case "category":
		b = fmt.Appendf(b, "/api/products/category/?category=%d&page=%d", 1+s.rng.IntN(m.Categories), 1+s.rng.IntN(5))
	case "search":
		b = append(b, "/api/products/search/?q="...)
		b = append(b, m.Words[s.rng.IntN(len(m.Words))]...)
	case "detail":
		b = fmt.Appendf(b, "/api/products/%d/", s.zipf.Next())
	case "availability":
		b = fmt.Appendf(b, "/api/products/%d/availability/", s.zipf.Next())
	case "cart":
		user = s.user()
		b = append(b, "/api/cart/me/"...)
	case "cart_count":
		user = s.user()
		b = append(b, "/api/cart/count/"...)
	case "cart_add":
		b = append(b, "/api/cart/add/"...)
		// A handful of lines per user: a cart stays small, and no line
		// reaches the origin's quantity cap within a run.
		u := s.rng.IntN(len(m.Users))
		user = &m.Users[u]
		p := m.Orderable[(u*7+s.rng.IntN(5))%len(m.Orderable)]
		s.body = fmt.Appendf(s.body[:0], `{"product":%d,"size":"%s","color":"%s","quantity":1}`,
			p, [2]string{"M", "L"}[s.rng.IntN(2)], [2]string{"black", "navy"}[s.rng.IntN(2)])
	case "order":
		user = s.user()
		b = append(b, "/api/order/create/"...)
		p := m.Orderable[s.rng.IntN(len(m.Orderable))]
		s.body = append(s.body[:0], `{"address_id":`...)
		s.body = strconv.AppendInt(s.body, user.AddressID, 10)
		s.body = fmt.Appendf(s.body, `,"items":[{"product_id":%d,"quantity":1,"size":"M"}]}`, p)
	}
	s.buf = b
	req.SetRequestURIBytes(b)
	if user != nil {
		req.Header.Set("Authorization", "Bearer "+user.Token)
	}
	if MixClasses[class].Write {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBody(s.body)
	}
	return class
}

func (s *mixSource) user() *User {
	return &s.p.m.Users[s.rng.IntN(len(s.p.m.Users))]
}
