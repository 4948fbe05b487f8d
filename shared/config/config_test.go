package config_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"edgeshop/shared/config"
)

// env returns a Getenv over a fixed environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "settings.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// kind is one setting type with a distinct value for each source.
type kind struct {
	name     string
	flag     string // setting name: --flag and YAML key
	env      string // environment variable
	register func(s *config.Set, name, env string) (get func() any)
	values   map[string]string // by source: YAML value, env value, flag value
	want     map[string]any    // by winning source
}

var kinds = []kind{
	{
		name: "String", flag: "name", env: "APP_NAME",
		register: func(s *config.Set, name, env string) func() any {
			var v string
			s.String(&v, name, env, "from-default", "")
			return func() any { return v }
		},
		values: map[string]string{"file": "from-file", "env": "from-env", "flag": "from-flag"},
		want:   map[string]any{"default": "from-default", "file": "from-file", "env": "from-env", "flag": "from-flag"},
	},
	{
		name: "Int", flag: "workers", env: "APP_WORKERS",
		register: func(s *config.Set, name, env string) func() any {
			var v int
			s.Int(&v, name, env, 1, "")
			return func() any { return v }
		},
		values: map[string]string{"file": "2", "env": " 3 ", "flag": "4"},
		want:   map[string]any{"default": 1, "file": 2, "env": 3, "flag": 4},
	},
	{
		name: "Bool", flag: "verbose", env: "APP_VERBOSE",
		register: func(s *config.Set, name, env string) func() any {
			var v bool
			s.Bool(&v, name, env, false, "")
			return func() any { return v }
		},
		values: map[string]string{"file": "true", "env": "0", "flag": "1"},
		want:   map[string]any{"default": false, "file": true, "env": false, "flag": true},
	},
	{
		name: "Duration", flag: "timeout", env: "APP_TIMEOUT",
		register: func(s *config.Set, name, env string) func() any {
			var v time.Duration
			s.Duration(&v, name, env, time.Second, "")
			return func() any { return v }
		},
		values: map[string]string{"file": "2s", "env": "1m30s", "flag": "250ms"},
		want:   map[string]any{"default": time.Second, "file": 2 * time.Second, "env": 90 * time.Second, "flag": 250 * time.Millisecond},
	},
	{
		name: "Bytes", flag: "max-body", env: "APP_MAX_BODY",
		register: func(s *config.Set, name, env string) func() any {
			var v int64
			s.Bytes(&v, name, env, "1KiB", "")
			return func() any { return v }
		},
		values: map[string]string{"file": "2MiB", "env": "3k", "flag": "4"},
		want:   map[string]any{"default": int64(1024), "file": int64(2 << 20), "env": int64(3 << 10), "flag": int64(4)},
	},
	{
		name: "List", flag: "peers", env: "APP_PEERS",
		register: func(s *config.Set, name, env string) func() any {
			var v []string
			s.List(&v, name, env, "a,b", "")
			return func() any { return v }
		},
		values: map[string]string{"file": "[c, d]", "env": "e, ,f,", "flag": "g"},
		want:   map[string]any{"default": []string{"a", "b"}, "file": []string{"c", "d"}, "env": []string{"e", "f"}, "flag": []string{"g"}},
	},
}

func TestPrecedence(t *testing.T) {
	for _, k := range kinds {
		name, envName := k.flag, k.env
		// Every combination of sources: the highest one present wins.
		for mask := range 8 {
			hasFile, hasEnv, hasFlag := mask&1 != 0, mask&2 != 0, mask&4 != 0
			want := "default"
			var label []string
			if hasFile {
				want = "file"
				label = append(label, "file")
			}
			if hasEnv {
				want = "env"
				label = append(label, "env")
			}
			if hasFlag {
				want = "flag"
				label = append(label, "flag")
			}
			t.Run(k.name+"/"+strings.Join(append(label, "default"), "+"), func(t *testing.T) {
				s := config.New("app", "APP_CONFIG")
				s.SetOutput(io.Discard)
				get := k.register(s, k.flag, k.env)
				vars := map[string]string{}
				var args []string
				if hasFile {
					args = append(args, "--config", writeFile(t, name+": "+k.values["file"]+"\n"))
				}
				if hasEnv {
					vars[envName] = k.values["env"]
				}
				if hasFlag {
					args = append(args, "--"+name+"="+k.values["flag"])
				}
				args = append(args, "rest")
				s.Getenv = env(vars)
				if err := s.Parse(args); err != nil {
					t.Fatalf("Parse(%q): %v", args, err)
				}
				if got := get(); !reflect.DeepEqual(got, k.want[want]) {
					t.Errorf("%s = %#v, want %#v (from %s)", name, got, k.want[want], want)
				}
				if !reflect.DeepEqual(s.Args(), []string{"rest"}) {
					t.Errorf("Args() = %q", s.Args())
				}
			})
		}
	}
}

func TestConfigFileLocation(t *testing.T) {
	fromEnv := writeFile(t, "name: named-by-env\n")
	fromFlag := writeFile(t, "name: named-by-flag\n")
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"none", nil, nil, "default"},
		{"environment", map[string]string{"APP_CONFIG": fromEnv}, nil, "named-by-env"},
		{"flag", nil, []string{"--config", fromFlag}, "named-by-flag"},
		{"flag beats environment", map[string]string{"APP_CONFIG": fromEnv}, []string{"--config=" + fromFlag}, "named-by-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := config.New("app", "APP_CONFIG")
			var v string
			s.String(&v, "name", "APP_NAME", "default", "")
			s.Getenv = env(tc.vars)
			if err := s.Parse(tc.args); err != nil || v != tc.want {
				t.Errorf("name = %q, %v; want %q", v, err, tc.want)
			}
		})
	}
}

// A value in the file means what the same text means in the environment:
// YAML's typing of plain scalars must not rewrite it.
func TestConfigFileKeepsScalarText(t *testing.T) {
	for _, text := range []string{"0777", "1.10", "1.0", "0x1F", "2024-01-01", "plain"} {
		t.Run(text, func(t *testing.T) {
			s := config.New("app", "")
			var v string
			var list []string
			s.String(&v, "name", "APP_NAME", "default", "")
			s.List(&list, "peers", "APP_PEERS", "", "")
			s.Getenv = env(nil)
			path := writeFile(t, "name: "+text+"\npeers: ["+text+", x]\n")
			if err := s.Parse([]string{"--config", path}); err != nil {
				t.Fatal(err)
			}
			if v != text || !reflect.DeepEqual(list, []string{text, "x"}) {
				t.Errorf("file value %s read as %q and list %q", text, v, list)
			}
		})
	}
}

func TestEmptyEnvironmentValueCounts(t *testing.T) {
	// A variable set to "" is set: it overrides the file (and clears a list).
	s := config.New("app", "")
	var peers []string
	var name string
	s.List(&peers, "peers", "APP_PEERS", "a,b", "")
	s.String(&name, "name", "APP_NAME", "x", "")
	s.Getenv = env(map[string]string{"APP_PEERS": "", "APP_NAME": ""})
	if err := s.Parse([]string{"--config", writeFile(t, "peers: [c]\nname: file\n")}); err != nil {
		t.Fatal(err)
	}
	if len(peers) != 0 || name != "" {
		t.Errorf("peers %q name %q, want both empty", peers, name)
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		value string
	}{
		{"Int", "many"}, {"Int", "1.5"}, {"Int", ""},
		{"Bool", "maybe"}, {"Bool", "yes"},
		{"Duration", "soon"}, {"Duration", "10"}, {"Duration", "-1s"},
		{"Bytes", "lots"}, {"Bytes", "-1"}, {"Bytes", "1.5MiB"}, {"Bytes", "12TiB"},
	} {
		var k kind
		for _, x := range kinds {
			if x.name == tc.kind {
				k = x
			}
		}
		name, envName := k.flag, k.env
		for _, source := range []string{"flag", "env", "file"} {
			t.Run(tc.kind+"/"+source+"/"+tc.value, func(t *testing.T) {
				s := config.New("app", "")
				s.SetOutput(io.Discard)
				k.register(s, k.flag, k.env)
				vars := map[string]string{}
				var args []string
				switch source {
				case "flag":
					args = []string{"--" + name + "=" + tc.value}
				case "env":
					vars[envName] = tc.value
				case "file":
					args = []string{"--config", writeFile(t, name+": '"+tc.value+"'\n")}
				}
				s.Getenv = env(vars)
				err := s.Parse(args)
				if err == nil {
					t.Fatalf("Parse accepted %s=%q", name, tc.value)
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") {
					t.Errorf("error spans lines: %q", msg)
				}
				if !strings.Contains(msg, "--"+name) || !strings.Contains(msg, envName) {
					t.Errorf("error %q does not name both --%s and %s", msg, name, envName)
				}
				if tc.value != "" && !strings.Contains(msg, tc.value) {
					t.Errorf("error %q does not quote the bad value %q", msg, tc.value)
				}
			})
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // substrings of the error
	}{
		{"unknown key", "workers: 2\nwrokers: 3\n", []string{"unknown setting", "wrokers"}},
		{"nested map", "workers:\n  min: 2\n", []string{"workers", "scalar"}},
		{"not yaml", "workers: [1, 2\n", []string{"config file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := config.New("app", "")
			var n int
			s.Int(&n, "workers", "APP_WORKERS", 1, "")
			s.Getenv = env(nil)
			path := writeFile(t, tc.body)
			err := s.Parse([]string{"--config", path})
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		s := config.New("app", "APP_CONFIG")
		s.Getenv = env(map[string]string{"APP_CONFIG": filepath.Join(t.TempDir(), "nope.yaml")})
		err := s.Parse(nil)
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Parse with a missing file: %v, want a not-exist error", err)
		}
	})

	t.Run("empty file is fine", func(t *testing.T) {
		s := config.New("app", "")
		var n int
		s.Int(&n, "workers", "", 7, "")
		if err := s.Parse([]string{"--config", writeFile(t, "")}); err != nil || n != 7 {
			t.Errorf("Parse with an empty file: %v, workers %d", err, n)
		}
	})

	t.Run("help", func(t *testing.T) {
		s := config.New("app", "")
		s.SetOutput(io.Discard)
		if err := s.Parse([]string{"--help"}); !errors.Is(err, config.ErrHelp) {
			t.Errorf("Parse(--help) = %v, want ErrHelp", err)
		}
	})

	t.Run("unknown flag", func(t *testing.T) {
		s := config.New("app", "")
		s.SetOutput(io.Discard)
		if err := s.Parse([]string{"--nope=1"}); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("Parse(--nope) = %v", err)
		}
	})
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256MiB", 256 << 20, true},
		{"256mib", 256 << 20, true},
		{"1k", 1 << 10, true},
		{"1K", 1 << 10, true},
		{"1KiB", 1 << 10, true},
		{"1KB", 1000, true},
		{"64m", 64 << 20, true},
		{"2G", 2 << 30, true},
		{"1GB", 1_000_000_000, true},
		{" 2 GiB ", 2 << 30, true},
		{"10", 10, true},
		{"10B", 10, true},
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"bad", 0, false},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1", 0, false},
		{"-5MiB", 0, false},
		{"1.5MiB", 0, false},
		{"1 TiB", 0, false},
		{"99999999999GiB", 0, false},
		{"9223372036854775807", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := config.ParseBytes(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.in) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}
