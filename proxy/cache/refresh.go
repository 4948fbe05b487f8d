package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"

	"github.com/valyala/fasthttp"
)

// Background revalidation (stale-while-revalidate, RFC 5861 §3): the
// client is answered from the stale entry at once, and one request per
// key, at most maxRefreshes at a time, brings the entry up to date through
// Options.Fetch. The Cache owns these goroutines: Close stops new ones and
// waits for those running.

// refreshJob is what a background revalidation needs, copied out of the
// request's scratch (which goes back to its pool when the request ends).
type refreshJob struct {
	key     string // the entry's key (primary or secondary)
	primary []byte
	stale   []byte // the stale entry, encoded
}

// refreshLater starts a background revalidation of the entry the request
// in s found, unless one is running for its key, too many are running
// (a later stale hit will try again), or the cache is closed.
func (c *Cache) refreshLater(s *scratch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if _, running := c.refreshing[string(s.lookup)]; running {
		return
	}
	select {
	case c.slots <- struct{}{}:
	default:
		return
	}
	job := &refreshJob{key: string(s.lookup), primary: bytes.Clone(s.key), stale: bytes.Clone(s.ent)}
	c.refreshing[job.key] = struct{}{}
	c.refreshes.Add(1)
	go c.refresh(job)
}

func (c *Cache) refresh(job *refreshJob) {
	defer func() {
		c.mu.Lock()
		delete(c.refreshing, job.key)
		c.mu.Unlock()
		<-c.slots
		c.refreshes.Done()
	}()
	if c.ctx.Err() != nil {
		return
	}
	s := acquireScratch()
	defer releaseScratch(s)
	s.key = append(s.key[:0], job.primary...)
	s.key2 = append(s.key2[:0], job.key...)
	s.lookup = s.key2
	s.val = append(s.val[:0], job.stale...)
	if s.e.decode(s.val) != nil {
		return
	}
	host, target, ok := splitKey(s.key)
	if !ok {
		return
	}

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURIBytes(target)
	req.Header.SetHostBytes(host)
	// §4.3.1: the conditional request carries the header fields the
	// stored response varies on, with the values it was selected by.
	setVaryFields(&req.Header, s.e.varyNames, s.e.varyValues)
	conditional := len(s.e.etag) > 0 || len(s.e.lastMod) > 0
	if len(s.e.etag) > 0 {
		req.Header.SetBytesV(fasthttp.HeaderIfNoneMatch, s.e.etag)
	}
	if len(s.e.lastMod) > 0 {
		req.Header.SetBytesV(fasthttp.HeaderIfModifiedSince, s.e.lastMod)
	}
	if conditional {
		c.revalidations.Add(1)
	}
	resp.Header.SetNoDefaultContentType(true)

	gen := c.purges.generation()
	reqTime := c.now()
	err := c.fetchFn(req, resp)
	respTime := c.now()
	if err != nil || c.ctx.Err() != nil {
		if err != nil && c.log.Enabled(context.Background(), slog.LevelDebug) {
			c.log.Debug("cache: background revalidation failed", "err", err)
		}
		return
	}
	// The edge's own request carries no Authorization nor no-store.
	rq := request{}
	switch code := resp.StatusCode(); {
	case code == fasthttp.StatusNotModified && conditional:
		c.revalidated304.Add(1)
		c.update(s, &req.Header, rq, &resp.Header, gen, reqTime, respTime)
	case serverError(code):
		// Keep the stale entry: stale-if-error may still use it.
	default:
		s.fields = appendFields(s.fields[:0], &resp.Header)
		c.put(s, code, s.fields, resp.Body(), &req.Header, rq, gen, reqTime, respTime)
	}
}

// setVaryFields sets on h the fields an entry's vary names and values
// (as appendVaryValues made them) record; absent ones stay absent.
func setVaryFields(h *fasthttp.RequestHeader, names, values []byte) {
	for len(names) > 0 && len(values) > 0 {
		var name []byte
		name, names, _ = bytes.Cut(names, []byte{','})
		n, w := binary.Uvarint(values)
		if w <= 0 || n > uint64(len(values)-w)+1 {
			return
		}
		values = values[w:]
		if n == 0 {
			continue
		}
		h.SetBytesKV(name, values[:n-1])
		values = values[n-1:]
	}
}
