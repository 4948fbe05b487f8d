package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssKiB is a process's resident memory (VmRSS), KiB.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// With EDGE_CACHE_PREFAULT the proxy holds its whole cache in memory
// before its first request, says so in its log, and caches as usual.
func TestCachePrefault(t *testing.T) {
	const cacheMiB = 96
	s := startSystem(t, 10, "EDGE_CACHE_PREFAULT=true", fmt.Sprintf("EDGE_CACHE_SIZE=%dMiB", cacheMiB))
	proxy := s.procs[len(s.procs)-1]
	if rss := rssKiB(t, proxy.cmd.Process.Pid); rss < cacheMiB<<10 {
		t.Errorf("proxy RSS %d KiB before any request, want at least the cache's %d MiB", rss, cacheMiB)
	}
	if !strings.Contains(proxy.out.String(), "cache memory prefaulted") {
		t.Errorf("the proxy's log does not say the cache was prefaulted:\n%s", proxy.out.String())
	}
	c := &client{t: t, base: s.Proxy}
	c.must(200, "GET", "/api/products/3/", nil)
	c.must(200, "GET", "/api/products/3/", nil)
	if n := sampleSum(t, s.Admin+"/metrics", "edgeshop_cache_hits_total"); n != 1 {
		t.Errorf("edge cache hits %v after two requests of one product, want 1", n)
	}
}
