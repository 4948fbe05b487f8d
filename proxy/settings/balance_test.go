package settings_test

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/settings"
)

// defaultBalance is the balancer's settings by default, for origins of
// the given weights.
func defaultBalance(weights ...int) settings.Balance {
	return settings.Balance{
		Policy:                "p2c",
		Weights:               weights,
		HealthChecks:          true,
		HealthPath:            "/readyz",
		HealthInterval:        500 * time.Millisecond,
		HealthTimeout:         time.Second,
		HealthRise:            2,
		HealthFall:            2,
		EjectAfter:            5,
		EjectCooldown:         10 * time.Second,
		ConnectTimeout:        2 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
		MaxConcurrent:         256,
		QueueLen:              64,
		QueueTimeout:          250 * time.Millisecond,
	}
}

func TestBalanceSettings(t *testing.T) {
	got, err := settings.Load(
		[]string{"--origins", "http://10.0.0.1:80=3, http://10.0.0.2:80", "--balance", "weighted", "--health-checks=false",
			"--origin-queue", "0"},
		env(map[string]string{
			"EDGE_HEALTH_PATH":             "/ready",
			"EDGE_HEALTH_INTERVAL":         "2s",
			"EDGE_HEALTH_RISE":             "3",
			"EDGE_HEALTH_FALL":             "4",
			"EDGE_EJECT_AFTER":             "7",
			"EDGE_EJECT_COOLDOWN":          "1m",
			"EDGE_CONNECT_TIMEOUT":         "300ms",
			"EDGE_RESPONSE_HEADER_TIMEOUT": "3s",
			"EDGE_ORIGIN_MAX_CONCURRENCY":  "10",
		}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://10.0.0.1:80", "http://10.0.0.2:80"}; !reflect.DeepEqual(got.Origins, want) {
		t.Errorf("origins %q, want %q", got.Origins, want)
	}
	want := defaultBalance(3, 1)
	want.Policy, want.HealthChecks, want.QueueLen = "weighted", false, 0
	want.HealthPath, want.HealthInterval, want.HealthRise, want.HealthFall = "/ready", 2*time.Second, 3, 4
	want.EjectAfter, want.EjectCooldown = 7, time.Minute
	want.ConnectTimeout, want.ResponseHeaderTimeout, want.MaxConcurrent = 300*time.Millisecond, 3*time.Second, 10
	if !reflect.DeepEqual(got.Balance, want) {
		t.Errorf("\n got %+v\nwant %+v", got.Balance, want)
	}
	if targets := got.Targets(); !reflect.DeepEqual(targets, []balance.Target{{URL: "http://10.0.0.1:80", Weight: 3}, {URL: "http://10.0.0.2:80", Weight: 1}}) {
		t.Errorf("targets %+v", targets)
	}
}

func TestBadBalanceValuesNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown policy", []string{"--balance", "random"}, "--balance / EDGE_BALANCE"},
		{"weight zero", []string{"--origins", "http://127.0.0.1:9001=0"}, "--origins"},
		{"weight not a number", []string{"--origins", "http://127.0.0.1:9001=x"}, "--origins"},
		{"weight on a bad URL", []string{"--origins", "127.0.0.1:9001=2"}, "--origins"},
		{"origin twice", []string{"--origins", "http://127.0.0.1:9001,http://127.0.0.1:9001=2"}, "--origins"},
		{"health path", []string{"--health-path", "readyz"}, "--health-path"},
		{"health interval", []string{"--health-interval", "0s"}, "--health-interval"},
		{"health rise", []string{"--health-rise", "0"}, "--health-rise"},
		{"health fall", []string{"--health-fall", "-1"}, "--health-fall"},
		{"eject after", []string{"--eject-after", "0"}, "--eject-after"},
		{"eject cooldown", []string{"--eject-cooldown", "0s"}, "--eject-cooldown"},
		{"connect timeout", []string{"--connect-timeout", "0s"}, "--connect-timeout"},
		{"header timeout", []string{"--response-header-timeout", "soon"}, "--response-header-timeout"},
		{"concurrency", []string{"--origin-max-concurrency", "0"}, "--origin-max-concurrency"},
		{"queue", []string{"--origin-queue", "-1"}, "--origin-queue"},
		{"queue timeout", []string{"--origin-queue-timeout", "0s"}, "--origin-queue-timeout"},
		{"health checks not a boolean", []string{"--health-checks=maybe"}, "--health-checks"},
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
