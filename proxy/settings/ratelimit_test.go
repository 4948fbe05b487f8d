package settings_test

import (
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/ulule/limiter/v3"

	"edgeshop/proxy/settings"
)

func rate(t testing.TB, s string) limiter.Rate {
	t.Helper()
	r, err := limiter.NewRateFromFormatted(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// defaultRateLimit is what the rate limit settings are with nothing set.
func defaultRateLimit(t testing.TB) settings.RateLimit {
	return settings.RateLimit{
		Enabled:    true,
		Default:    rate(t, "600-M"),
		Login:      rate(t, "10-M"),
		Register:   rate(t, "20-H"),
		Order:      rate(t, "20-M"),
		IPv6Prefix: 64,
		MemoryKeys: 1 << 18,
	}
}

func TestRateLimitSources(t *testing.T) {
	got, err := settings.Load(
		[]string{"--ratelimit-login", "5-M", "--trusted-proxies", "10.0.0.0/8, 192.0.2.7,::ffff:198.51.100.0/120"},
		env(map[string]string{
			"EDGE_RATELIMIT_DEFAULT":     "100-S",
			"EDGE_RATELIMIT_REGISTER":    "off",
			"EDGE_RATELIMIT_ALLOW":       "2001:db8::/32",
			"EDGE_RATELIMIT_REDIS":       "redis://127.0.0.1:6379/0",
			"EDGE_RATELIMIT_FAIL_CLOSED": "true",
			"EDGE_RATELIMIT_IPV6_PREFIX": "56",
		}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := settings.RateLimit{
		Enabled:    true,
		Default:    rate(t, "100-S"),
		Login:      rate(t, "5-M"),
		Order:      rate(t, "20-M"),
		Allow:      []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")},
		IPv6Prefix: 56,
		Redis:      "redis://127.0.0.1:6379/0",
		FailClosed: true,
		MemoryKeys: 1 << 18,
	}
	if !reflect.DeepEqual(got.RateLimit, want) {
		t.Errorf("\n got %+v\nwant %+v", got.RateLimit, want)
	}
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("198.51.100.0/24"),
	}
	if !reflect.DeepEqual(got.TrustedProxies, trusted) {
		t.Errorf("trusted proxies %v, want %v", got.TrustedProxies, trusted)
	}
	var names []string
	for _, p := range got.RateLimit.Policies() {
		names = append(names, p.Name+" "+p.Method+" "+p.Path+" "+p.Rate.Formatted)
	}
	if g, w := strings.Join(names, "|"), "default   100-S|login POST /auth/jwt/create/ 5-M|order POST /api/order/create/ 20-M"; g != w {
		t.Errorf("policies %q, want %q", g, w)
	}
}

func TestRateLimitBadValuesNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default not a rate", []string{"--ratelimit-default", "lots"}, "--ratelimit-default / EDGE_RATELIMIT_DEFAULT"},
		{"default off", []string{"--ratelimit-default", "off"}, "--ratelimit-default"},
		{"zero limit", []string{"--ratelimit-login", "0-M"}, "--ratelimit-login / EDGE_RATELIMIT_LOGIN"},
		{"unknown period", []string{"--ratelimit-order", "5-W"}, "--ratelimit-order"},
		{"register", []string{"--ratelimit-register", "5"}, "--ratelimit-register"},
		{"allow not a CIDR", []string{"--ratelimit-allow", "10.0.0.0/33"}, "--ratelimit-allow"},
		{"trusted not a CIDR", []string{"--trusted-proxies", "proxy.example"}, "--trusted-proxies"},
		{"ipv6 prefix", []string{"--ratelimit-ipv6-prefix", "0"}, "--ratelimit-ipv6-prefix"},
		{"memory keys", []string{"--ratelimit-memory-keys", "10"}, "--ratelimit-memory-keys"},
		{"redis URL", []string{"--ratelimit-redis", "http://127.0.0.1:6379"}, "--ratelimit-redis"},
		{"not a boolean", []string{"--ratelimit=maybe"}, "--ratelimit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settings.Load(tc.args, env(nil), io.Discard)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s", msg, tc.want)
			}
		})
	}
}
