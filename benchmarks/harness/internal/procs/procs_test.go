package procs

import (
	"os"
	"strings"
	"testing"
	"time"
)

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
