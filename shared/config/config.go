// Package config loads a program's settings with one precedence rule for
// every binary: command-line flag > environment variable > YAML file >
// built-in default. A bad value stops the program with one line naming the
// setting (flag and environment name), never a panic.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Set is the list of settings of one program. Register settings with the
// typed methods, then call Parse once.
type Set struct {
	fs       *flag.FlagSet
	settings []*setting
	fileFlag string
	fileEnv  string
	filePath string
	// Getenv reads the environment; tests replace it.
	Getenv func(string) (string, bool)
}

type setting struct {
	name  string // flag name, also the YAML key
	env   string // environment variable, may be empty
	def   string
	apply func(string) error
	value string // the flag's value when set on the command line
	isSet bool
}

// New returns an empty Set for the program called name. A YAML file may be
// given with --config or the environment variable fileEnv.
func New(name, fileEnv string) *Set {
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), fileFlag: "config", fileEnv: fileEnv, Getenv: os.LookupEnv}
	s.fs.StringVar(&s.filePath, s.fileFlag, "", "YAML file with settings (env "+fileEnv+")")
	return s
}

// SetOutput sets where usage and flag errors are written.
func (s *Set) SetOutput(w io.Writer) { s.fs.SetOutput(w) }

// Args returns the arguments left after the flags.
func (s *Set) Args() []string { return s.fs.Args() }

// flagValue records a value given on the command line.
type flagValue struct {
	st     *setting
	isBool bool
}

func (f *flagValue) String() string { return "" }
func (f *flagValue) Set(v string) error {
	f.st.value, f.st.isSet = v, true
	return nil
}
func (f *flagValue) IsBoolFlag() bool { return f.isBool }

func (s *Set) add(name, env, def, usage string, apply func(string) error) {
	s.addFlag(name, env, def, usage, false, apply)
}

func (s *Set) addFlag(name, env, def, usage string, isBool bool, apply func(string) error) {
	st := &setting{name: name, env: env, def: def, apply: apply}
	s.settings = append(s.settings, st)
	if env != "" {
		usage += " (env " + env + ")"
	}
	s.fs.Var(&flagValue{st: st, isBool: isBool}, name, usage+" (default "+strconv.Quote(def)+")")
}

// String registers a string setting.
func (s *Set) String(p *string, name, env, def, usage string) {
	s.add(name, env, def, usage, func(v string) error { *p = v; return nil })
}

// Int registers an integer setting.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	s.add(name, env, strconv.Itoa(def), usage, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*p = n
		return nil
	})
}

// Bool registers a boolean setting (true/false/1/0).
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	s.addFlag(name, env, strconv.FormatBool(def), usage, true, func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		*p = b
		return nil
	})
}

// Duration registers a duration setting ("1.5s", "200ms").
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	s.add(name, env, def.String(), usage, func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("not a duration: %q", v)
		}
		*p = d
		return nil
	})
}

// Bytes registers a size setting: a plain number of bytes or one with a
// unit (KiB, MiB, GiB, KB, MB, GB, K, M, G).
func (s *Set) Bytes(p *int64, name, env, def, usage string) {
	s.add(name, env, def, usage, func(v string) error {
		n, err := ParseBytes(v)
		if err != nil {
			return err
		}
		*p = n
		return nil
	})
}

// List registers a comma-separated list; empty items are dropped.
func (s *Set) List(p *[]string, name, env, def, usage string) {
	s.add(name, env, def, usage, func(v string) error {
		var out []string
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*p = out
		return nil
	})
}

// Parse reads the flags in args, then fills every setting from the first
// source that has it. The error, if any, is one line naming the setting.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	path := s.filePath
	if path == "" && s.fileEnv != "" {
		path, _ = s.Getenv(s.fileEnv)
	}
	file := map[string]string{}
	if path != "" {
		var err error
		if file, err = readFile(path); err != nil {
			return err
		}
		known := map[string]bool{}
		for _, st := range s.settings {
			known[st.name] = true
		}
		for k := range file {
			if !known[k] {
				return fmt.Errorf("config file %s: unknown setting %q", path, k)
			}
		}
	}
	for _, st := range s.settings {
		v, src := st.def, "default"
		if fv, ok := file[st.name]; ok {
			v, src = fv, "config file "+path
		}
		if st.env != "" {
			if ev, ok := s.Getenv(st.env); ok {
				v, src = ev, "environment"
			}
		}
		if st.isSet {
			v, src = st.value, "command line"
		}
		if err := st.apply(v); err != nil {
			return fmt.Errorf("setting --%s%s (from %s): %v", st.name, envSuffix(st.env), src, err)
		}
	}
	return nil
}

func envSuffix(env string) string {
	if env == "" {
		return ""
	}
	return " / " + env
}

func readFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	// Decode to nodes, not Go values: a value must reach its setting as
	// written ("0777", "1.10"), exactly as it would from the environment.
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %v", path, oneLine(err))
	}
	out := make(map[string]string, len(raw))
	for k, n := range raw {
		switch n.Kind {
		case yaml.ScalarNode:
			if n.Tag == "!!null" {
				out[k] = ""
			} else {
				out[k] = n.Value
			}
		case yaml.SequenceNode:
			parts := make([]string, 0, len(n.Content))
			for _, item := range n.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("config file %s: setting %q: list items must be scalars", path, k)
				}
				parts = append(parts, item.Value)
			}
			out[k] = strings.Join(parts, ",")
		default:
			return nil, fmt.Errorf("config file %s: setting %q must be a scalar or a list", path, k)
		}
	}
	return out, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// ParseBytes parses a size such as "256MiB", "64m" or "1048576".
func ParseBytes(v string) (int64, error) {
	t := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			mult, t = u.mult, strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("not a size: %q (use e.g. 256MiB)", v)
	}
	return n * mult, nil
}

// ErrHelp is returned by Parse when -h or --help was given.
var ErrHelp = flag.ErrHelp

// Exit prints err as one line and exits: 0 for --help, 2 otherwise.
func Exit(program string, err error) {
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", program, oneLine(err))
	os.Exit(2)
}
