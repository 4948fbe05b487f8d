package procs

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as the helper process TestPinMovesEveryThread pins.
func TestMain(m *testing.M) {
	if os.Getenv("PROCS_HELPER_SLEEP") == "1" {
		fmt.Println("sleeping")
		time.Sleep(60 * time.Second)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseStat(t *testing.T) {
	line := "4242 (my (odd) prog) S 1 4240 4240 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 3 0 100 0 0\n"
	st, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.Pid != 4242 || st.Pgrp != 4240 || st.State != 'S' || st.UTime != 1234 || st.STime != 567 {
		t.Errorf("%+v", st)
	}
	if _, err := ParseStat([]byte("garbage")); err == nil {
		t.Error("garbage accepted")
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc under CI=true")
		}
		t.Skip("no /proc")
	}
	if st, err := ParseStat(b); err != nil || st.Pid != os.Getpid() {
		t.Errorf("own stat: %+v %v", st, err)
	}
}

func TestRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc under CI=true")
		}
		t.Skip("no /proc")
	}
	rss, err := RSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("RSS %d, %v", rss, err)
	}
}

// StatusBytes reads the split of RSS, which adds up to VmRSS, and fails
// on a field the file does not have.
func TestStatusBytes(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc under CI=true")
		}
		t.Skip("no /proc")
	}
	f, err := StatusBytes(os.Getpid(), "VmRSS", "RssAnon", "RssFile", "RssShmem")
	if err != nil {
		t.Fatal(err)
	}
	if f["RssAnon"] <= 0 || f["RssFile"] <= 0 || f["RssAnon"]+f["RssFile"]+f["RssShmem"] != f["VmRSS"] {
		t.Errorf("status fields %v: RssAnon + RssFile + RssShmem should be VmRSS", f)
	}
	if _, err := StatusBytes(os.Getpid(), "VmRSS", "NoSuchField"); err == nil || !strings.Contains(err.Error(), "NoSuchField") {
		t.Errorf("missing field: %v", err)
	}
}

// Stop ends the whole process group, a child the leader forked included,
// and CPUTicks sees the group while it lives.
func TestStartStopGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc under CI=true")
		}
		t.Skip("no /proc")
	}
	g := &Group{Dir: t.TempDir()}
	p, err := g.Start("sleepers", Options{}, "sh", "-c", "sleep 60 & echo started; sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Tail(100), "started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := CPUTicks(p.Pid()); err != nil {
		t.Fatalf("group not seen: %v", err)
	}
	began := time.Now()
	g.StopAll()
	if time.Since(began) > 4*time.Second {
		t.Errorf("stop took %s: TERM did not end the group", time.Since(began))
	}
	if !p.Exited() {
		t.Error("leader still running")
	}
	deadline = time.Now().Add(2 * time.Second)
	for {
		if _, err := CPUTicks(p.Pid()); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a process of the group outlived Stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCPUList(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "0,1": "0-1", "1,0": "0-1", "3,1,2,5": "1-3,5", "0-3": "0-3", "0-1,1,2": "0-2",
		"0, 2": "0,2", "x": "x", "2-1": "2-1", "": "",
	} {
		if got := CPUList(in); got != want {
			t.Errorf("CPUList(%q) = %q, want %q", in, got, want)
		}
	}
}

// Pin moves every thread of a running process, Go's runtime threads
// included, and Affinity reads it back from /proc.
func TestPinMovesEveryThread(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("taskset missing under CI=true")
		}
		t.Skip("taskset missing")
	}
	if runtime.NumCPU() < 2 {
		if os.Getenv("CI") == "true" {
			t.Fatal("one CPU under CI=true: the benchmarks need two")
		}
		t.Skip("one CPU")
	}
	g := &Group{Dir: t.TempDir()}
	defer g.StopAll()
	// A Go program with several threads: this test binary, asked to run
	// nothing but a sleep.
	p, err := g.Start("threads", Options{CPUs: "0", Env: []string{"PROCS_HELPER_SLEEP=1"}}, os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Tail(100), "sleeping") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := Affinity(p.Pid()); err != nil || got != "0" {
		t.Fatalf("started on CPU 0: Affinity = %q, %v", got, err)
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.Pid()))
	if len(tasks) < 2 {
		t.Fatalf("%d threads: the test needs a process with several", len(tasks))
	}
	all := fmt.Sprintf("0-%d", runtime.NumCPU()-1)
	if err := Pin(p.Pid(), all); err != nil {
		t.Fatal(err)
	}
	if got, err := Affinity(p.Pid()); err != nil || got != all {
		t.Errorf("after Pin(%s): Affinity = %q, %v", all, got, err)
	}
	if err := Pin(p.Pid(), "1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := Affinity(p.Pid()); got != "1" {
		t.Errorf("after Pin(1): Affinity = %q", got)
	}
	if err := Pin(p.Pid(), "99999"); err == nil {
		t.Error("Pin to a CPU the machine lacks: no error")
	}
}

func TestParseCPUTicks(t *testing.T) {
	total, steal, err := ParseCPUTicks([]byte("cpu  367925 0 211601 534716 2886 0 84758 70949 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"))
	if err != nil || total != 367925+211601+534716+2886+84758+70949 || steal != 70949 {
		t.Errorf("got %d, %d, %v", total, steal, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 3 4 5 6 7 x"} {
		if _, _, err := ParseCPUTicks([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := StealPct(1000, 10, 2000, 35); got != 2.5 {
		t.Errorf("StealPct = %v, want 2.5", got)
	}
	if got := StealPct(1000, 10, 1000, 10); got != -1 {
		t.Errorf("StealPct with no time = %v, want -1", got)
	}
	if total, _, err := MachineTicks(); err != nil || total <= 0 {
		t.Errorf("MachineTicks: %d, %v", total, err)
	}
}
