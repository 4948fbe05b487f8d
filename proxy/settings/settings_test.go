package settings_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"edgeshop/proxy/settings"
	"edgeshop/shared/config"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	got, err := settings.Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := settings.Settings{
		Listen:                   "127.0.0.1:8080",
		AdminListen:              "127.0.0.1:8081",
		Origins:                  []string{"http://127.0.0.1:9001", "http://127.0.0.1:9002"},
		Cache:                    true,
		Compress:                 true,
		CacheSize:                256 << 20,
		CacheStaleIfDisconnected: time.Minute,
		LogLevel:                 "info",
		MaxBodySize:              1 << 20,
		UpstreamTimeout:          10 * time.Second,
		ReadTimeout:              30 * time.Second,
		IdleTimeout:              90 * time.Second,
		ParkIdleAfter:            time.Second,
		RateLimit:                defaultRateLimit(t),
		Balance:                  defaultBalance(1, 1),
		TLS:                      settings.TLS{HSTS: "max-age=31536000"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", got, want)
	}
}

func TestSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:7000\norigins: [\"http://10.0.0.1:80\"]\ncache-size: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := settings.Load(
		[]string{"--listen", "127.0.0.1:7002", "--upstream-timeout", "2s"},
		env(map[string]string{
			"EDGE_CONFIG":           file,
			"EDGE_LISTEN":           "127.0.0.1:7001",
			"EDGE_ORIGINS":          "http://10.0.0.2:80, http://10.0.0.3:80",
			"EDGE_MAX_BODY_SIZE":    "64KiB",
			"EDGE_UPSTREAM_TIMEOUT": "5s",
			"EDGE_LOG_LEVEL":        "debug",
			"EDGE_CACHE":            "false",
			"EDGE_COMPRESS":         "false",
			"EDGE_CACHE_PREFAULT":   "true",
		}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := settings.Settings{
		Listen:                   "127.0.0.1:7002", // flag over env over file
		AdminListen:              "127.0.0.1:8081",
		Origins:                  []string{"http://10.0.0.2:80", "http://10.0.0.3:80"},
		Cache:                    false,
		CacheSize:                1 << 30,
		CachePrefault:            true,
		CacheStaleIfDisconnected: time.Minute,
		LogLevel:                 "debug",
		MaxBodySize:              64 << 10,
		UpstreamTimeout:          2 * time.Second,
		ReadTimeout:              30 * time.Second,
		IdleTimeout:              90 * time.Second,
		ParkIdleAfter:            time.Second,
		RateLimit:                defaultRateLimit(t),
		Balance:                  defaultBalance(1, 1),
		TLS:                      settings.TLS{HSTS: "max-age=31536000"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // the setting the error must name
	}{
		{"origin not http", []string{"--origins", "https://127.0.0.1:9001"}, nil, "--origins"},
		{"origin without port", []string{"--origins", "http://127.0.0.1:9001,http://127.0.0.1"}, nil, "--origins"},
		{"origin with path", nil, map[string]string{"EDGE_ORIGINS": "http://127.0.0.1:9001/api"}, "--origins / EDGE_ORIGINS"},
		{"origin not a URL", []string{"--origins", "127.0.0.1:9001"}, nil, "--origins"},
		{"no origins", []string{"--origins", " , "}, nil, "--origins"},
		{"listen without port", []string{"--listen", "localhost"}, nil, "--listen"},
		{"same listeners", []string{"--listen", "127.0.0.1:8081"}, nil, "--admin-listen"},
		{"log level", nil, map[string]string{"EDGE_LOG_LEVEL": "loud"}, "--log-level"},
		{"body size zero", []string{"--max-body-size", "0"}, nil, "--max-body-size"},
		{"body size not a size", []string{"--max-body-size", "lots"}, nil, "--max-body-size"},
		{"cache size", []string{"--cache-size", "-1"}, nil, "--cache-size"},
		{"cache size too small", []string{"--cache-size", "64KiB"}, nil, "--cache-size"},
		{"cache not a boolean", nil, map[string]string{"EDGE_CACHE": "maybe"}, "--cache"},
		{"compress not a boolean", []string{"--compress=sometimes"}, nil, "--compress"},
		{"timeout zero", []string{"--upstream-timeout", "0s"}, nil, "--upstream-timeout"},
		{"timeout not a duration", nil, map[string]string{"EDGE_UPSTREAM_TIMEOUT": "soon"}, "--upstream-timeout"},
		{"read timeout zero", nil, map[string]string{"EDGE_READ_TIMEOUT": "0s"}, "--read-timeout"},
		{"idle timeout negative", []string{"--idle-timeout", "-1s"}, nil, "--idle-timeout"},
		{"park delay negative", nil, map[string]string{"EDGE_PARK_IDLE_AFTER": "-1s"}, "--park-idle-after"},
		{"park delay not a duration", []string{"--park-idle-after", "later"}, nil, "--park-idle-after"},
		{"stray argument", []string{"serve"}, nil, "serve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settings.Load(tc.args, env(tc.env), io.Discard)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s", msg, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	_, err := settings.Load([]string{"--help"}, env(nil), io.Discard)
	if !errors.Is(err, config.ErrHelp) {
		t.Errorf("--help gave %v, want config.ErrHelp", err)
	}
}
