// Package procs starts the processes a benchmark needs and makes sure they
// stop: each runs in its own process group, optionally pinned to CPUs with
// taskset, gets SIGKILL if the harness dies (Pdeathsig), and Stop ends the
// whole group (TERM, then KILL after a grace period). It also reads what
// /proc says about them: CPU time and resident memory.
package procs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one started process (and its group).
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // file with its stdout and stderr
	done chan struct{}
	err  error
}

// Group owns the processes started through it; StopAll stops them all.
type Group struct {
	mu    sync.Mutex
	procs []*Proc
	Dir   string // logs go here
}

// Options for Start.
type Options struct {
	CPUs string   // taskset CPU list ("0"); empty: not pinned
	Env  []string // added to the harness's environment
	Dir  string   // working directory
}

// Start runs argv as name. Output goes to Dir/name.log.
func (g *Group) Start(name string, opt Options, argv ...string) (*Proc, error) {
	if opt.CPUs != "" {
		argv = append([]string{"taskset", "-c", opt.CPUs}, argv...)
	}
	logPath := filepath.Join(g.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = opt.Dir
	cmd.Env = append(os.Environ(), opt.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// Pid is the process's id (taskset execs the command, so it is the
// command's own).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail returns the last n bytes of the process's log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop ends the process group: SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	pgid := p.Pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader (a forked worker) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Stop stops one process of the group and forgets it.
func (g *Group) Stop(p *Proc) {
	p.Stop(5 * time.Second)
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.procs {
		if q == p {
			g.procs = append(g.procs[:i], g.procs[i+1:]...)
			break
		}
	}
}

// StopAll stops every process still running, the last started first.
func (g *Group) StopAll() {
	g.mu.Lock()
	ps := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Stop(5 * time.Second)
	}
}

// WaitHTTP waits until url answers with a status below 500, or the
// process exits, or timeout passes.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before %s answered: %s", p.Name, url, p.Tail(2000))
		}
		select {
		case <-ctx.Done():
			tail := ""
			if p != nil {
				tail = ": " + p.Tail(2000)
			}
			return fmt.Errorf("%s did not answer within %s%s", url, timeout, tail)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CPUTicks is the user+system CPU time, in clock ticks, of every live
// process in the process group pgid (a server and its forked workers;
// zombies left to a parent that does not reap them are not live).
func CPUTicks(pgid int) (int64, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var total int64
	found := false
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		st, err := ParseStat(b)
		if err != nil || st.Pgrp != pgid || st.State == 'Z' {
			continue
		}
		found = true
		total += st.UTime + st.STime
	}
	if !found {
		return 0, fmt.Errorf("no process in group %d", pgid)
	}
	return total, nil
}

// Stat is the part of /proc/<pid>/stat the harness uses.
type Stat struct {
	Pid, Pgrp    int
	State        byte  // R, S, D, Z (zombie), …
	UTime, STime int64 // clock ticks
}

// ParseStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from its closing one.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, errors.New("malformed stat")
	}
	var st Stat
	var err error
	if st.Pid, err = strconv.Atoi(strings.TrimSpace(string(b[:open]))); err != nil {
		return Stat{}, err
	}
	f := strings.Fields(string(b[end+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return Stat{}, errors.New("short stat")
	}
	st.State = f[0][0]
	if st.Pgrp, err = strconv.Atoi(f[2]); err != nil { // field 5
		return Stat{}, err
	}
	if st.UTime, err = strconv.ParseInt(f[11], 10, 64); err != nil { // field 14
		return Stat{}, err
	}
	if st.STime, err = strconv.ParseInt(f[12], 10, 64); err != nil { // field 15
		return Stat{}, err
	}
	return st, nil
}

// Pin moves every thread of a running pid to the CPUs of list (a taskset
// list: "0", "0,1", "0-3"); threads it starts later inherit that from the
// thread that starts them. Go's runtime (1.25 on) sees the change within
// about a second and sets GOMAXPROCS to match, unless GOMAXPROCS was set.
// A thread started by one taskset has not reached yet keeps the old CPUs:
// Pin checks every thread afterwards and tries again (3 times at most).
func Pin(pid int, list string) error {
	var got string
	var err error
	for range 3 {
		out, err := exec.Command("taskset", "-a", "-p", "-c", list, strconv.Itoa(pid)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("taskset -a -p -c %s %d: %v: %s", list, pid, err, bytes.TrimSpace(out))
		}
		if got, err = Affinity(pid); err == nil && got == CPUList(list) {
			return nil
		}
	}
	return fmt.Errorf("pid %d pinned to %s: its threads run on %q (%v)", pid, list, got, err)
}

// Affinity returns the CPUs every thread of pid may run on, as the kernel
// lists them ("0-1"), or an error when its threads differ.
func Affinity(pid int) (string, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return "", err
	}
	list := ""
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		_, rest, ok := bytes.Cut(b, []byte("Cpus_allowed_list:"))
		if !ok {
			return "", fmt.Errorf("pid %d: no Cpus_allowed_list", pid)
		}
		l, _, _ := bytes.Cut(rest, []byte("\n"))
		got := string(bytes.TrimSpace(l))
		if list != "" && got != list {
			return "", fmt.Errorf("pid %d: threads on %s and on %s", pid, list, got)
		}
		list = got
	}
	if list == "" {
		return "", fmt.Errorf("pid %d: no threads", pid)
	}
	return list, nil
}

// CPUList writes a taskset list as the kernel lists CPUs: ascending,
// each run of consecutive CPUs as "a-b" ("0,1" is "0-1", "3,1,2,5" is
// "1-3,5"). A list that does not parse is returned as it is.
func CPUList(list string) string {
	var cpus []int
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if isRange && err == nil {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b-a > 1<<12 {
			return list
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	cpus = slices.Compact(cpus)
	var out []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j > i {
			out = append(out, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		} else {
			out = append(out, strconv.Itoa(cpus[i]))
		}
		i = j + 1
	}
	return strings.Join(out, ",")
}

// MachineTicks reads the machine's CPU time from /proc/stat: all of it
// (idle included) and the part the hypervisor gave to others while this
// VM had work (steal), in clock ticks summed over the CPUs.
func MachineTicks() (total, steal int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return ParseCPUTicks(b)
}

// ParseCPUTicks reads the first ("cpu ") line of /proc/stat: user, nice,
// system, idle, iowait, irq, softirq, steal (guest times are already in
// user and nice).
func ParseCPUTicks(b []byte) (total, steal int64, err error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("not a /proc/stat cpu line: %q", line)
	}
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat cpu field %d: %v", i+1, err)
		}
		total += n
		if i == 7 {
			steal = n
		}
	}
	return total, steal, nil
}

// StealPct is the share, in percent, of the machine's CPU time between two
// MachineTicks readings that the hypervisor gave to other guests (-1 when
// no time passed).
func StealPct(total0, steal0, total1, steal1 int64) float64 {
	if total1 <= total0 {
		return -1
	}
	return math.Round(float64(steal1-steal0)*1000/float64(total1-total0)) / 10
}

// ClockTicks is the kernel's USER_HZ (100 on Linux's common configurations;
// /proc reports CPU time in it).
const ClockTicks = 100

// RSS returns the resident set size of pid in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	f, err := StatusBytes(pid, "VmRSS")
	if err != nil {
		return 0, err
	}
	return f["VmRSS"], nil
}

// StatusBytes reads the named kB fields of /proc/<pid>/status (VmRSS,
// RssAnon, RssFile, RssShmem, ...) in bytes; it fails if one is missing.
func StatusBytes(pid int, names ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	got := make(map[string]int64, len(names))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s in /proc/%d/status: %w", name, pid, err)
		}
		got[name] = kb << 10
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			return nil, fmt.Errorf("no %s in /proc/%d/status", n, pid)
		}
	}
	return got, nil
}
