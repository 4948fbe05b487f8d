package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"edgeshop/proxy/balance"
	"edgeshop/shared/config"
)

// Balance are the balancer's settings (origin choice, health, timeouts and
// limits per origin), checked.
type Balance struct {
	Policy string // p2c, round-robin or weighted
	// Weights has one weight per origin, in the order of Settings.Origins:
	// the "=N" suffix of an --origins item, else 1.
	Weights []int

	HealthChecks   bool
	HealthPath     string
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthRise     int
	HealthFall     int

	EjectAfter    int
	EjectCooldown time.Duration

	ConnectTimeout        time.Duration
	ResponseHeaderTimeout time.Duration
	MaxConcurrent         int // per origin
	QueueLen              int // per origin; 0: none
	QueueTimeout          time.Duration
}

// Targets returns the origins with their weights, as the balancer takes
// them.
func (s Settings) Targets() []balance.Target {
	out := make([]balance.Target, len(s.Origins))
	for i, u := range s.Origins {
		out[i] = balance.Target{URL: u, Weight: 1}
		if i < len(s.Balance.Weights) {
			out[i].Weight = s.Balance.Weights[i]
		}
	}
	return out
}

// maxWeight keeps one weighted round short.
const maxWeight = 100

// addBalance registers the balancer's settings.
func addBalance(set *config.Set) *Balance {
	b := &Balance{}
	set.String(&b.Policy, "balance", "EDGE_BALANCE", balance.PolicyP2C, "origin choice: p2c (power of two choices on requests in flight), round-robin or weighted (weights as --origins http://host:port=N)")
	set.Bool(&b.HealthChecks, "health-checks", "EDGE_HEALTH_CHECKS", true, "check each origin's health path actively (false: only passive ejection)")
	set.String(&b.HealthPath, "health-path", "EDGE_HEALTH_PATH", balance.DefaultHealthPath, "path of the origins' readiness check (a 2xx passes)")
	set.Duration(&b.HealthInterval, "health-interval", "EDGE_HEALTH_INTERVAL", balance.DefaultHealthInterval, "time between two health checks of an origin")
	set.Duration(&b.HealthTimeout, "health-timeout", "EDGE_HEALTH_TIMEOUT", balance.DefaultHealthTimeout, "bound on one health check")
	set.Int(&b.HealthRise, "health-rise", "EDGE_HEALTH_RISE", balance.DefaultHealthRise, "passed checks in a row that bring an origin back")
	set.Int(&b.HealthFall, "health-fall", "EDGE_HEALTH_FALL", balance.DefaultHealthFall, "failed checks in a row that take an origin out")
	set.Int(&b.EjectAfter, "eject-after", "EDGE_EJECT_AFTER", balance.DefaultEjectAfter, "failed exchanges in a row (connection failure, timeout) that eject an origin")
	set.Duration(&b.EjectCooldown, "eject-cooldown", "EDGE_EJECT_COOLDOWN", balance.DefaultEjectCooldown, "how long an ejected origin gets no requests before it is tried again")
	set.Duration(&b.ConnectTimeout, "connect-timeout", "EDGE_CONNECT_TIMEOUT", 2*time.Second, "bound on opening a connection to an origin")
	set.Duration(&b.ResponseHeaderTimeout, "response-header-timeout", "EDGE_RESPONSE_HEADER_TIMEOUT", 5*time.Second, "bound on the wait for the first byte of an origin's response")
	set.Int(&b.MaxConcurrent, "origin-max-concurrency", "EDGE_ORIGIN_MAX_CONCURRENCY", 256, "requests at once per origin (and its connections at most)")
	set.Int(&b.QueueLen, "origin-queue", "EDGE_ORIGIN_QUEUE", 64, "requests per origin that may wait for a free slot; beyond that 503 (0: none)")
	set.Duration(&b.QueueTimeout, "origin-queue-timeout", "EDGE_ORIGIN_QUEUE_TIMEOUT", 250*time.Millisecond, "longest wait for a free slot")
	return b
}

// check takes the weights off s.Origins into the balance settings and
// checks the values into s; the error names the setting. It runs before
// the origin URLs are checked.
func (b *Balance) check(s *Settings) error {
	fail := func(flag, env string, format string, args ...any) error {
		return fmt.Errorf("setting --%s / %s: %s", flag, env, fmt.Sprintf(format, args...))
	}
	bal := *b
	bal.Weights = make([]int, len(s.Origins))
	seen := map[string]bool{}
	for i, item := range s.Origins {
		u, w, err := splitWeight(item)
		if err != nil {
			return fail("origins", "EDGE_ORIGINS", "%v", err)
		}
		if seen[u] {
			return fail("origins", "EDGE_ORIGINS", "origin %q listed twice", u)
		}
		seen[u] = true
		s.Origins[i], bal.Weights[i] = u, w
	}
	if _, err := balance.NewPolicy(bal.Policy); err != nil {
		return fail("balance", "EDGE_BALANCE", "%v", err)
	}
	if !strings.HasPrefix(bal.HealthPath, "/") {
		return fail("health-path", "EDGE_HEALTH_PATH", "want a path starting with /, got %q", bal.HealthPath)
	}
	for _, c := range []struct {
		flag, env string
		d         time.Duration
	}{
		{"health-interval", "EDGE_HEALTH_INTERVAL", bal.HealthInterval},
		{"health-timeout", "EDGE_HEALTH_TIMEOUT", bal.HealthTimeout},
		{"eject-cooldown", "EDGE_EJECT_COOLDOWN", bal.EjectCooldown},
		{"connect-timeout", "EDGE_CONNECT_TIMEOUT", bal.ConnectTimeout},
		{"response-header-timeout", "EDGE_RESPONSE_HEADER_TIMEOUT", bal.ResponseHeaderTimeout},
		{"origin-queue-timeout", "EDGE_ORIGIN_QUEUE_TIMEOUT", bal.QueueTimeout},
	} {
		if c.d <= 0 {
			return fail(c.flag, c.env, "want a duration above zero, got %s", c.d)
		}
	}
	for _, c := range []struct {
		flag, env string
		n, lo, hi int
	}{
		{"health-rise", "EDGE_HEALTH_RISE", bal.HealthRise, 1, 100},
		{"health-fall", "EDGE_HEALTH_FALL", bal.HealthFall, 1, 100},
		{"eject-after", "EDGE_EJECT_AFTER", bal.EjectAfter, 1, 1000},
		{"origin-max-concurrency", "EDGE_ORIGIN_MAX_CONCURRENCY", bal.MaxConcurrent, 1, 100_000},
		{"origin-queue", "EDGE_ORIGIN_QUEUE", bal.QueueLen, 0, 100_000},
	} {
		if c.n < c.lo || c.n > c.hi {
			return fail(c.flag, c.env, "want an integer from %d to %d, got %d", c.lo, c.hi, c.n)
		}
	}
	s.Balance = bal
	return nil
}

// splitWeight splits an --origins item "http://host:port=N" into the URL
// and the weight (1 when there is no suffix).
func splitWeight(item string) (string, int, error) {
	i := strings.LastIndexByte(item, '=')
	if i < 0 {
		return item, 1, nil
	}
	u, raw := item[:i], item[i+1:]
	w, err := strconv.Atoi(raw)
	if err != nil || w < 1 || w > maxWeight {
		return "", 0, fmt.Errorf("origin %q: weight must be an integer from 1 to %d, got %q", u, maxWeight, raw)
	}
	return u, w, nil
}
