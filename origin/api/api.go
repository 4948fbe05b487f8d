package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"edgeshop/origin/auth"
	"edgeshop/origin/store"
)

// Catalogue is what the catalogue routes need from the store.
type Catalogue interface {
	Product(ctx context.Context, id int64) (store.Product, error)
	Stock(ctx context.Context, id int64) (int64, error)
	RandomProducts(ctx context.Context, n int) ([]store.Product, error)
	PopularProducts(ctx context.Context, n int) ([]store.Product, error)
	ProductsOfType(ctx context.Context, clothesType string, n int) ([]store.Product, error)
	RandomProductsInCategory(ctx context.Context, category int64, n int) ([]store.Product, error)
	ProductPage(ctx context.Context, page, size int) ([]store.Product, int64, error)
	CategoryPage(ctx context.Context, category int64, page, size int) ([]store.Product, int64, error)
	Search(ctx context.Context, q string, page, size int) ([]store.Product, int64, error)
	Categories(ctx context.Context) ([]store.Category, error)
	RandomCategories(ctx context.Context, n int) ([]store.Category, error)
	Brands(ctx context.Context) ([]store.Brand, error)
	Ping(ctx context.Context) error
}

// Config holds the API's settings.
type Config struct {
	// CatalogueTTL is the edge freshness (s-maxage) of catalogue responses.
	CatalogueTTL time.Duration
	// AvailabilityTTL is the edge freshness of availability (≤ 1s).
	AvailabilityTTL time.Duration
	// MaxBodyBytes caps request bodies (413 beyond).
	MaxBodyBytes int64

	// Shop, Issuer and Hasher enable the user and admin routes; without a
	// Shop only the catalogue is served.
	Shop   Shop
	Issuer *auth.Issuer
	Hasher *auth.Hasher
	// Purger is told which surrogate keys a write made stale; nil drops them.
	Purger Purger
}

// Shop is what the user and admin routes need from the store.
type Shop interface {
	Accounts
	Carts
	Orders
	Admin
}

// Purger tells the edges which cached responses a committed write made
// stale (architecture.md, "Invalidation"). Purge must not block for long:
// it queues the keys and returns.
type Purger interface {
	Purge(keys ...string)
}

type noPurger struct{}

func (noPurger) Purge(...string) {}

// API is the origin's HTTP handler.
type API struct {
	cat    Catalogue
	cfg    Config
	log    *slog.Logger
	router *router
	ready  func() bool

	catalogue, availability cachePolicy
}

// New returns the API over cat. ready reports whether the process accepts
// traffic (false while draining); nil means always.
func New(cat Catalogue, cfg Config, log *slog.Logger, ready func() bool) *API {
	if cfg.CatalogueTTL <= 0 {
		cfg.CatalogueTTL = 60 * time.Second
	}
	if cfg.AvailabilityTTL <= 0 || cfg.AvailabilityTTL > time.Second {
		cfg.AvailabilityTTL = time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Purger == nil {
		cfg.Purger = noPurger{}
	}
	if ready == nil {
		ready = func() bool { return true }
	}
	a := &API{cat: cat, cfg: cfg, log: log, router: newRouter(), ready: ready}
	ttl := int(cfg.CatalogueTTL / time.Second)
	a.catalogue = cachePolicy{sMaxAge: ttl, staleWhileRevalidate: max(ttl/2, 1), staleIfError: max(ttl*5, 60)}
	a.availability = cachePolicy{sMaxAge: int(cfg.AvailabilityTTL / time.Second), staleWhileRevalidate: 1, staleIfError: 5}
	a.routes()
	return a
}

func (a *API) routes() {
	r := a.router
	r.handle("GET", "/healthz", a.healthz)
	r.handle("GET", "/readyz", a.readyz)
	a.catalogueRoutes()
	if a.cfg.Shop != nil {
		a.accountRoutes()
		a.cartRoutes()
		a.orderRoutes()
		a.adminRoutes()
	}
}

// ServeHTTP serves one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > a.cfg.MaxBodyBytes {
		writeError(w, errTooLarge())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	a.router.ServeHTTP(w, r)
}

func errTooLarge() *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", detail: "request body too large"}
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request, _ params) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request, _ params) {
	if !a.ready() {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "draining", detail: "shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.cat.Ping(ctx); err != nil {
		a.log.Warn("readyz: database", "err", err)
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "db_unavailable", detail: "database not answering"})
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`))
}
