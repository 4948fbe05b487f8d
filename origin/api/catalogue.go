package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"edgeshop/origin/store"
)

const (
	randomListSize   = 20
	recommendSize    = 6
	homeCategories   = 5
	defaultPageSize  = 20
	maxPageSize      = 100
	maxQueryValueLen = 200
)

func (a *API) catalogueRoutes() {
	r := a.router
	r.handle("GET", "/api/products/", a.products)
	r.handle("GET", "/api/products/{id}/", a.product)
	r.handle("GET", "/api/products/{id}/availability/", a.productAvailability)
	r.handle("GET", "/api/products/popular/", a.popular)
	r.handle("GET", "/api/products/byType/", a.byType)
	r.handle("GET", "/api/products/search/", a.search)
	r.handle("GET", "/api/products/category/", a.category)
	r.handle("GET", "/api/products/recommendations/", a.recommendations)
	r.handle("GET", "/api/products/categories/", a.categories)
	r.handle("GET", "/api/products/categories/home/", a.homeCategories)
	r.handle("GET", "/api/products/brands/", a.brands)
}

// productKeys names what a product list depends on (Surrogate-Key).
func productKeys(ps []store.Product, extra ...string) []string {
	keys := make([]string, 0, 1+len(extra)+len(ps)*3)
	keys = append(keys, "products")
	keys = append(keys, extra...)
	seen := map[string]bool{}
	for i := range ps {
		for _, k := range []string{
			"product-" + strconv.FormatInt(ps[i].ID, 10),
			"category-" + strconv.FormatInt(ps[i].CategoryID, 10),
			"brand-" + strconv.FormatInt(ps[i].BrandID, 10),
		} {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// pageParams reads page and page_size; present reports whether page was
// given. Bad values are 400s, never clamped silently.
func pageParams(q url.Values) (page, size int, present bool, err error) {
	page, size = 1, defaultPageSize
	if v, ok := q["page"]; ok {
		present = true
		n, perr := strconv.Atoi(v[0])
		if perr != nil || n < 1 || n > 10_000_000 {
			return 0, 0, true, &apiError{status: http.StatusBadRequest, code: "invalid_page",
				detail: "page must be a positive integer", fields: map[string][]string{"page": {"must be an integer >= 1"}}}
		}
		page = n
	}
	if v, ok := q["page_size"]; ok {
		n, perr := strconv.Atoi(v[0])
		if perr != nil || n < 1 || n > maxPageSize {
			return 0, 0, present, &apiError{status: http.StatusBadRequest, code: "invalid_page_size",
				detail: "page_size must be an integer from 1 to 100", fields: map[string][]string{"page_size": {"must be an integer from 1 to 100"}}}
		}
		size = n
	}
	return page, size, present, nil
}

// appendPage renders a DRF-style page: {"count","next","previous","results"}.
func appendPage(b []byte, r *http.Request, page, size int, total int64, ps []store.Product) []byte {
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, total, 10)
	b = append(b, `,"next":`...)
	if int64(page)*int64(size) < total {
		b = appendString(b, pageURL(r, page+1))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"previous":`...)
	if page > 1 {
		b = appendString(b, pageURL(r, page-1))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"results":`...)
	b = appendProducts(b, ps)
	return append(b, '}')
}

func pageURL(r *http.Request, page int) string {
	scheme := "http"
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(page))
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

// requiredParam returns a non-empty query value or the seed's 400.
func requiredParam(q url.Values, name, seedMessage string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return "", &apiError{status: http.StatusBadRequest, code: "missing_parameter",
			detail: "query parameter " + name + " is required", message: seedMessage,
			fields: map[string][]string{name: {"required"}}}
	}
	if len(v) > maxQueryValueLen {
		return "", errBadRequest("invalid_parameter", "query parameter "+name+" is too long")
	}
	return v, nil
}

func idParam(q url.Values, name, seedMessage string) (int64, error) {
	v, err := requiredParam(q, name, seedMessage)
	if err != nil {
		return 0, err
	}
	id, perr := strconv.ParseInt(v, 10, 64)
	if perr != nil || id < 1 {
		return 0, &apiError{status: http.StatusBadRequest, code: "invalid_parameter",
			detail: "query parameter " + name + " must be a positive integer",
			fields: map[string][]string{name: {"must be a positive integer"}}}
	}
	return id, nil
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		if errors.Is(err, store.ErrNotFound) {
			err = errNotFound("not found")
		} else if errors.Is(err, store.ErrNoUser) {
			err = errBadToken // the token's user was deleted (signedIn)
		} else if r.Context().Err() == nil {
			a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	writeError(w, err)
}

func (a *API) products(w http.ResponseWriter, r *http.Request, _ params) {
	q := r.URL.Query()
	page, size, paged, err := pageParams(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !paged {
		ps, err := a.cat.RandomProducts(r.Context(), randomListSize)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeCatalogue(w, r, a.catalogue, productKeys(ps), appendProducts(make([]byte, 0, 16<<10), ps))
		return
	}
	ps, total, err := a.cat.ProductPage(r.Context(), page, size)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, productKeys(ps), appendPage(make([]byte, 0, 16<<10), r, page, size, total, ps))
}

func (a *API) product(w http.ResponseWriter, r *http.Request, p params) {
	prod, err := a.cat.Product(r.Context(), p.id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps := []store.Product{prod}
	writeCatalogue(w, r, a.catalogue, productKeys(ps), appendProduct(make([]byte, 0, 2048), &prod)) // a product is 1-1.5 KB of JSON
}

func (a *API) productAvailability(w http.ResponseWriter, r *http.Request, p params) {
	stock, err := a.cat.Stock(r.Context(), p.id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b := append(make([]byte, 0, 64), `{"product":`...)
	b = strconv.AppendInt(b, p.id, 10)
	b = append(b, `,"stock":`...)
	b = strconv.AppendInt(b, stock, 10)
	b = append(b, `,"in_stock":`...)
	b = strconv.AppendBool(b, stock > 0)
	b = append(b, '}')
	id := strconv.FormatInt(p.id, 10)
	writeCatalogue(w, r, a.availability, []string{"product-" + id, "stock-" + id}, b)
}

func (a *API) randomList(w http.ResponseWriter, r *http.Request, ps []store.Product, err error, extra ...string) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, productKeys(ps, extra...), appendProducts(make([]byte, 0, 16<<10), ps))
}

func (a *API) popular(w http.ResponseWriter, r *http.Request, _ params) {
	ps, err := a.cat.PopularProducts(r.Context(), randomListSize)
	a.randomList(w, r, ps, err)
}

func (a *API) byType(w http.ResponseWriter, r *http.Request, _ params) {
	t, err := requiredParam(r.URL.Query(), "clothesType", "No clothesType Provided")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, err := a.cat.ProductsOfType(r.Context(), t, randomListSize)
	a.randomList(w, r, ps, err)
}

func (a *API) recommendations(w http.ResponseWriter, r *http.Request, _ params) {
	cat, err := idParam(r.URL.Query(), "category", "No category Provided")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, err := a.cat.RandomProductsInCategory(r.Context(), cat, recommendSize)
	a.randomList(w, r, ps, err, "category-"+strconv.FormatInt(cat, 10))
}

func (a *API) search(w http.ResponseWriter, r *http.Request, _ params) {
	q := r.URL.Query()
	text, err := requiredParam(q, "q", "No query Provided")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, size, _, err := pageParams(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, total, err := a.cat.Search(r.Context(), text, page, size)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, productKeys(ps), appendPage(make([]byte, 0, 16<<10), r, page, size, total, ps))
}

func (a *API) category(w http.ResponseWriter, r *http.Request, _ params) {
	q := r.URL.Query()
	cat, err := idParam(q, "category", "No category Provided")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, size, _, err := pageParams(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, total, err := a.cat.CategoryPage(r.Context(), cat, page, size)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, productKeys(ps, "category-"+strconv.FormatInt(cat, 10)),
		appendPage(make([]byte, 0, 16<<10), r, page, size, total, ps))
}

func (a *API) categories(w http.ResponseWriter, r *http.Request, _ params) {
	cs, err := a.cat.Categories(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, []string{"categories"}, appendCategories(nil, cs))
}

func (a *API) homeCategories(w http.ResponseWriter, r *http.Request, _ params) {
	cs, err := a.cat.RandomCategories(r.Context(), homeCategories)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, []string{"categories"}, appendCategories(nil, cs))
}

func (a *API) brands(w http.ResponseWriter, r *http.Request, _ params) {
	bs, err := a.cat.Brands(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCatalogue(w, r, a.catalogue, []string{"brands"}, appendCategories(nil, bs))
}
