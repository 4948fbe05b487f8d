package settings

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ulule/limiter/v3"

	"edgeshop/proxy/ratelimit"
	"edgeshop/shared/config"
)

// RateLimit are the rate limiter's settings, checked.
type RateLimit struct {
	Enabled bool
	// The budgets per client, in the limiter's format. Login, Register
	// and Order have a zero Limit when turned off ("off").
	Default, Login, Register, Order limiter.Rate
	Allow                           []netip.Prefix // never limited
	IPv6Prefix                      int            // bits grouping IPv6 clients
	Redis                           string         // redis:// URL; empty: memory store
	FailClosed                      bool           // 503 while Redis is unreachable
	MemoryKeys                      int            // memory store capacity
}

// Routes the stricter policies cover (api.md).
const (
	pathLogin    = "/auth/jwt/create/"
	pathRegister = "/auth/users/"
	pathOrder    = "/api/order/create/"
)

// Policies returns the configured budgets: the default over all public
// traffic, then the stricter ones on their routes, which count as well.
func (r RateLimit) Policies() []ratelimit.Policy {
	ps := []ratelimit.Policy{{Name: "default", Rate: r.Default}}
	for _, p := range []ratelimit.Policy{
		{Name: "login", Method: "POST", Path: pathLogin, Rate: r.Login},
		{Name: "register", Method: "POST", Path: pathRegister, Rate: r.Register},
		{Name: "order", Method: "POST", Path: pathOrder, Rate: r.Order},
	} {
		if p.Rate.Limit > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

// rateLimitFlags holds the raw values until they are checked.
type rateLimitFlags struct {
	r                           RateLimit
	def, login, register, order string
	allow, trusted              []string
}

// addRateLimit registers the rate limit and client identity settings.
func addRateLimit(set *config.Set) *rateLimitFlags {
	f := &rateLimitFlags{}
	set.Bool(&f.r.Enabled, "ratelimit", "EDGE_RATELIMIT", true, "limit requests per client address")
	set.String(&f.def, "ratelimit-default", "EDGE_RATELIMIT_DEFAULT", "600-M", "budget per client over all public traffic, <limit>-<S|M|H|D>")
	set.String(&f.login, "ratelimit-login", "EDGE_RATELIMIT_LOGIN", "10-M", "budget per client for POST "+pathLogin+", or off")
	set.String(&f.register, "ratelimit-register", "EDGE_RATELIMIT_REGISTER", "20-H", "budget per client for POST "+pathRegister+", or off")
	set.String(&f.order, "ratelimit-order", "EDGE_RATELIMIT_ORDER", "20-M", "budget per client for POST "+pathOrder+", or off")
	set.List(&f.allow, "ratelimit-allow", "EDGE_RATELIMIT_ALLOW", "", "comma-separated CIDRs never limited")
	set.Int(&f.r.IPv6Prefix, "ratelimit-ipv6-prefix", "EDGE_RATELIMIT_IPV6_PREFIX", ratelimit.DefaultIPv6Prefix, "IPv6 clients share one budget per prefix of this many bits")
	set.String(&f.r.Redis, "ratelimit-redis", "EDGE_RATELIMIT_REDIS", "", "redis:// URL of the store the proxies share; empty: this proxy's memory")
	set.Bool(&f.r.FailClosed, "ratelimit-fail-closed", "EDGE_RATELIMIT_FAIL_CLOSED", false, "answer 503 while Redis is unreachable (default: serve unlimited)")
	set.Int(&f.r.MemoryKeys, "ratelimit-memory-keys", "EDGE_RATELIMIT_MEMORY_KEYS", ratelimit.DefaultMemoryKeys, "client budgets the memory store holds at most")
	set.List(&f.trusted, "trusted-proxies", "EDGE_TRUSTED_PROXIES", "", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed")
	return f
}

// check parses and checks the values into s; the error names the
// setting.
func (f *rateLimitFlags) check(s *Settings) error {
	r, err := f.parse()
	if err != nil {
		return err
	}
	s.RateLimit = r
	s.TrustedProxies, err = parsePrefixes(f.trusted)
	if err != nil {
		return fmt.Errorf("setting --trusted-proxies / EDGE_TRUSTED_PROXIES: %v", err)
	}
	return nil
}

func (f *rateLimitFlags) parse() (RateLimit, error) {
	r := f.r
	var err error
	fail := func(flag, env string, err error) error {
		return fmt.Errorf("setting --%s / %s: %v", flag, env, err)
	}
	if r.Default, err = ratelimit.ParseRate(f.def); err != nil {
		return r, fail("ratelimit-default", "EDGE_RATELIMIT_DEFAULT", err)
	}
	for _, c := range []struct {
		flag, env, raw string
		rate           *limiter.Rate
	}{
		{"ratelimit-login", "EDGE_RATELIMIT_LOGIN", f.login, &r.Login},
		{"ratelimit-register", "EDGE_RATELIMIT_REGISTER", f.register, &r.Register},
		{"ratelimit-order", "EDGE_RATELIMIT_ORDER", f.order, &r.Order},
	} {
		if strings.EqualFold(strings.TrimSpace(c.raw), "off") {
			continue
		}
		if *c.rate, err = ratelimit.ParseRate(c.raw); err != nil {
			return r, fail(c.flag, c.env, err)
		}
	}
	if r.Allow, err = parsePrefixes(f.allow); err != nil {
		return r, fail("ratelimit-allow", "EDGE_RATELIMIT_ALLOW", err)
	}
	if r.IPv6Prefix < 1 || r.IPv6Prefix > 128 {
		return r, fail("ratelimit-ipv6-prefix", "EDGE_RATELIMIT_IPV6_PREFIX", fmt.Errorf("want 1 to 128 bits, got %d", r.IPv6Prefix))
	}
	if r.MemoryKeys < 1024 {
		return r, fail("ratelimit-memory-keys", "EDGE_RATELIMIT_MEMORY_KEYS", fmt.Errorf("want at least 1024, got %d", r.MemoryKeys))
	}
	if r.Redis != "" {
		st, err := ratelimit.NewRedisStore(r.Redis)
		if err != nil {
			return r, fail("ratelimit-redis", "EDGE_RATELIMIT_REDIS", err)
		}
		_ = st.Close() // it never connected: only the URL is checked here

	}
	return r, nil
}

// parsePrefixes reads CIDRs; a bare address is its own /32 or /128.
func parsePrefixes(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range items {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q mixes IPv4-mapped and IPv6 addresses", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
