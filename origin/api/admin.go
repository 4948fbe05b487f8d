package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"edgeshop/origin/store"
)

// Admin is what the staff routes need from the store.
type Admin interface {
	CreateProduct(ctx context.Context, p store.NewProduct) (store.StockedProduct, error)
	UpdateProduct(ctx context.Context, id int64, p store.ProductPatch) (before, after store.StockedProduct, err error)
	DeleteProduct(ctx context.Context, id int64) (store.Product, error)
	CreateCategory(ctx context.Context, title, imageURL string) (store.Category, error)
	DeleteCategory(ctx context.Context, id int64) error
	CreateBrand(ctx context.Context, title, imageURL string) (store.Brand, error)
	DeleteBrand(ctx context.Context, id int64) error
	AllOrders(ctx context.Context, page, size int) ([]store.Order, int64, error)
	RecentOrders(ctx context.Context, since time.Time, page, size int) ([]store.Order, int64, error)
	SetOrderStatus(ctx context.Context, id int64, status string) (store.Order, error)
	SetPaymentStatus(ctx context.Context, id int64, status string) (store.Order, error)
}

// Limits on staff input (the columns' CHECKs repeat the ones that matter).
const (
	adminPageSize     = 20
	maxTitleLen       = 200
	maxDescriptionLen = 10_000
	maxClothesTypeLen = 40
	maxListItems      = 20
	maxListItemLen    = 200
	maxImageURLLen    = 1000
	maxPriceCents     = 99_999_999_99 // 99,999,999.99: the seed's DecimalField(max_digits=10)
	maxStock          = 1_000_000_000
	maxRating         = 5
	recentOrdersSpan  = 30 * 24 * time.Hour
)

func (a *API) adminRoutes() {
	r := a.router
	r.handle("GET", "/api/admin/products/list/", a.staff(a.adminProducts))
	r.handle("POST", "/api/admin/products/create/", a.staff(a.adminCreateProduct))
	r.handle("PUT", "/api/admin/products/update/{id}/", a.staff(a.adminUpdateProduct))
	r.handle("DELETE", "/api/admin/products/delete/{id}/", a.staff(a.adminDeleteProduct))
	r.handle("POST", "/api/admin/categories/create/", a.staff(a.adminCreateGroup(a.cfg.Shop.CreateCategory, "categories")))
	r.handle("DELETE", "/api/admin/categories/delete/{id}/", a.staff(a.adminDeleteGroup(a.cfg.Shop.DeleteCategory, "categories", "category-", "category")))
	r.handle("POST", "/api/admin/brands/create/", a.staff(a.adminCreateGroup(a.cfg.Shop.CreateBrand, "brands")))
	r.handle("DELETE", "/api/admin/brands/delete/{id}/", a.staff(a.adminDeleteGroup(a.cfg.Shop.DeleteBrand, "brands", "brand-", "brand")))
	r.handle("GET", "/api/admin/orders/", a.staff(a.adminOrders))
	r.handle("GET", "/api/admin/orders/recent/", a.staff(a.adminRecentOrders))
	r.handle("PATCH", "/api/admin/orders/{id}/update-status/", a.staff(a.adminOrderStatus))
	r.handle("PATCH", "/api/admin/orders/{id}/update-payment-status/", a.staff(a.adminPaymentStatus))
}

// appendStockedProduct renders a product as the catalogue does, plus its
// stock: staff responses only, never a cached catalogue body.
func appendStockedProduct(b []byte, p *store.StockedProduct) []byte {
	b = appendProduct(b, &p.Product)
	b = append(b[:len(b)-1], `,"stock":`...)
	b = strconv.AppendInt(b, p.Stock, 10)
	return append(b, '}')
}

func writeNoContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) adminProducts(w http.ResponseWriter, r *http.Request, _ params, _ store.User) {
	// Pages are always 20 long (api.md); only page is read.
	q := url.Values{}
	if v, ok := r.URL.Query()["page"]; ok {
		q["page"] = v
	}
	page, _, _, err := pageParams(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ps, total, err := a.cat.ProductPage(r.Context(), page, adminPageSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendPage(make([]byte, 0, 16<<10), r, page, adminPageSize, total, ps))
}

// productBody is a product as staff send it. Every field is kept raw so
// that a field's absence, null and wrong type are told apart and each
// becomes a field error.
type productBody struct {
	Title       json.RawMessage `json:"title"`
	Price       json.RawMessage `json:"price"`
	Description json.RawMessage `json:"description"`
	Category    json.RawMessage `json:"category"`
	Brand       json.RawMessage `json:"brand"`
	ClothesType json.RawMessage `json:"clothes_type"`
	Color       json.RawMessage `json:"color"`
	Sizes       json.RawMessage `json:"sizes"`
	ImageURLs   json.RawMessage `json:"image_urls"`
	IsFeatured  json.RawMessage `json:"is_featured"`
	Rating      json.RawMessage `json:"rating"`
	Stock       json.RawMessage `json:"stock"`
}

// patch validates the fields present into a store.ProductPatch.
func (in *productBody) patch(v validation) store.ProductPatch {
	var p store.ProductPatch
	p.Title = textField(v, "title", in.Title, 1, maxTitleLen)
	p.PriceCents = priceField(v, "price", in.Price)
	p.Description = textField(v, "description", in.Description, 0, maxDescriptionLen)
	p.CategoryID = idField(v, "category", in.Category)
	p.BrandID = idField(v, "brand", in.Brand)
	p.ClothesType = textField(v, "clothes_type", in.ClothesType, 1, maxClothesTypeLen)
	p.Colors = listField(v, "color", in.Color)
	p.Sizes = listField(v, "sizes", in.Sizes)
	p.ImageURLs = listField(v, "image_urls", in.ImageURLs)
	p.IsFeatured = boolField(v, "is_featured", in.IsFeatured)
	p.Rating = ratingField(v, "rating", in.Rating)
	p.Stock = stockField(v, "stock", in.Stock)
	return p
}

// present reports whether a field was sent (null counts: it is refused).
func present(raw json.RawMessage) bool { return raw != nil }

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func textField(v validation, field string, raw json.RawMessage, minLen, maxLen int) *string {
	if !present(raw) {
		return nil
	}
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		v.add(field, "must be a string")
		return nil
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		if minLen > 0 {
			v.add(field, "must be "+strconv.Itoa(minLen)+" to "+strconv.Itoa(maxLen)+" characters")
		} else {
			v.add(field, "must be at most "+strconv.Itoa(maxLen)+" characters")
		}
		return nil
	}
	return &s
}

// jsonNumber returns raw's text when raw is a JSON number (not a string
// holding one).
func jsonNumber(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return "", false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

func priceField(v validation, field string, raw json.RawMessage) *int64 {
	if !present(raw) {
		return nil
	}
	n, ok := jsonNumber(raw)
	if !ok {
		v.add(field, "must be a number")
		return nil
	}
	cents, err := parseCents(n)
	if err != nil {
		v.add(field, err.Error())
		return nil
	}
	return &cents
}

var (
	errNegativePrice  = errors.New("must be >= 0")
	errPricePrecision = errors.New("must have at most 2 decimal places")
	errPriceTooLarge  = errors.New("must be at most 99999999.99")
)

// parseCents converts a JSON number (as text) to integer cents exactly,
// working on its decimal digits: no float rounding, so 0.29 is 29 cents
// and 0.295 is refused rather than rounded.
func parseCents(n string) (int64, error) {
	neg := strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(n), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expText)
		if err != nil || e > 20 || e < -20 {
			return 0, errPriceTooLarge
		}
		exp = e
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := whole + frac
	// value = digits × 10^-scale; cents = digits × 10^(2-scale).
	scale := len(frac) - exp
	if scale > 2 {
		cut := len(digits) - (scale - 2)
		if cut < 0 {
			cut = 0
		}
		if strings.Trim(digits[cut:], "0") != "" {
			return 0, errPricePrecision
		}
		digits = digits[:cut]
	} else {
		digits += strings.Repeat("0", 2-scale)
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, nil // 0, -0, 0.00
	}
	if neg {
		return 0, errNegativePrice
	}
	if len(digits) > 12 {
		return 0, errPriceTooLarge
	}
	cents, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || cents > maxPriceCents {
		return 0, errPriceTooLarge
	}
	return cents, nil
}

func idField(v validation, field string, raw json.RawMessage) *int64 {
	if !present(raw) {
		return nil
	}
	n, ok := jsonNumber(raw)
	id, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || id < 1 {
		v.add(field, "must be the id of an existing "+field)
		return nil
	}
	return &id
}

func stockField(v validation, field string, raw json.RawMessage) *int64 {
	if !present(raw) {
		return nil
	}
	n, ok := jsonNumber(raw)
	stock, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || stock < 0 || stock > maxStock {
		v.add(field, "must be an integer from 0 to "+strconv.Itoa(maxStock))
		return nil
	}
	return &stock
}

func ratingField(v validation, field string, raw json.RawMessage) *float64 {
	if !present(raw) {
		return nil
	}
	n, ok := jsonNumber(raw)
	f, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || f < 0 || f > maxRating {
		v.add(field, "must be a number from 0 to 5")
		return nil
	}
	return &f
}

func boolField(v validation, field string, raw json.RawMessage) *bool {
	if !present(raw) {
		return nil
	}
	var b bool
	if isNull(raw) || json.Unmarshal(raw, &b) != nil {
		v.add(field, "must be a boolean")
		return nil
	}
	return &b
}

func listField(v validation, field string, raw json.RawMessage) *[]string {
	if !present(raw) {
		return nil
	}
	var items []*string // *string: a null item is an error, not ""
	if isNull(raw) || json.Unmarshal(raw, &items) != nil {
		v.add(field, "must be a list of strings")
		return nil
	}
	if len(items) > maxListItems {
		v.add(field, "must have at most "+strconv.Itoa(maxListItems)+" items")
		return nil
	}
	out := make([]string, 0, len(items))
	for _, s := range items {
		if s == nil {
			v.add(field, "must be a list of strings")
			return nil
		}
		if n := utf8.RuneCountInString(*s); n < 1 || n > maxListItemLen {
			v.add(field, "each item must be 1 to "+strconv.Itoa(maxListItemLen)+" characters")
			return nil
		}
		out = append(out, *s)
	}
	return &out
}

// refError turns the store's unknown-reference errors into field errors.
func refError(err error) error {
	v := validation{}
	if errors.Is(err, store.ErrUnknownCategory) {
		v.add("category", "no such category")
	}
	if errors.Is(err, store.ErrUnknownBrand) {
		v.add("brand", "no such brand")
	}
	if len(v) == 0 {
		return err
	}
	return v.err()
}

func (a *API) adminCreateProduct(w http.ResponseWriter, r *http.Request, _ params, _ store.User) {
	var in productBody
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v := validation{}
	p := in.patch(v)
	for field, set := range map[string]bool{
		"title": p.Title != nil, "price": p.PriceCents != nil, "category": p.CategoryID != nil,
		"brand": p.BrandID != nil, "clothes_type": p.ClothesType != nil,
	} {
		if !set && v[field] == nil {
			v.add(field, "required")
		}
	}
	if err := v.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	np := store.NewProduct{Title: *p.Title, PriceCents: *p.PriceCents, ClothesType: *p.ClothesType,
		CategoryID: *p.CategoryID, BrandID: *p.BrandID}
	if p.Description != nil {
		np.Description = *p.Description
	}
	if p.IsFeatured != nil {
		np.IsFeatured = *p.IsFeatured
	}
	if p.Rating != nil {
		np.Rating = *p.Rating
	}
	if p.Colors != nil {
		np.Colors = *p.Colors
	}
	if p.Sizes != nil {
		np.Sizes = *p.Sizes
	}
	if p.ImageURLs != nil {
		np.ImageURLs = *p.ImageURLs
	}
	if p.Stock != nil {
		np.Stock = *p.Stock
	}
	created, err := a.cfg.Shop.CreateProduct(r.Context(), np)
	if err != nil {
		a.fail(w, r, refError(err))
		return
	}
	a.cfg.Purger.Purge("products", categoryKey(created.CategoryID), brandKey(created.BrandID))
	writeJSON(w, http.StatusCreated, appendStockedProduct(make([]byte, 0, 1024), &created))
}

func (a *API) adminUpdateProduct(w http.ResponseWriter, r *http.Request, p params, _ store.User) {
	var in productBody
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v := validation{}
	patch := in.patch(v)
	if err := v.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	before, after, err := a.cfg.Shop.UpdateProduct(r.Context(), p.id, patch)
	if err != nil {
		a.fail(w, r, refError(err))
		return
	}
	if keys := updateKeys(&before.Product, &after.Product, before.Stock != after.Stock); len(keys) > 0 {
		a.cfg.Purger.Purge(keys...)
	}
	writeJSON(w, http.StatusOK, appendStockedProduct(make([]byte, 0, 1024), &after))
}

// updateKeys names the cached responses a product update made stale. Every
// cached body that shows the product carries product-<id>; lists it may
// now join are keyed products (search, popular, byType, pages) and
// category-<id> (category lists); brand keys follow the brief's rule of
// naming both old and new owner.
func updateKeys(before, after *store.Product, stockChanged bool) []string {
	shown := before.Title != after.Title || before.PriceCents != after.PriceCents ||
		before.Description != after.Description || before.IsFeatured != after.IsFeatured ||
		before.ClothesType != after.ClothesType || before.Rating != after.Rating ||
		before.CategoryID != after.CategoryID || before.BrandID != after.BrandID ||
		string(before.Colors) != string(after.Colors) || string(before.Sizes) != string(after.Sizes) ||
		string(before.ImageURLs) != string(after.ImageURLs)
	if !shown && !stockChanged {
		return nil
	}
	// Availability is keyed product-<id> too, so a stock change alone is
	// covered by it.
	keys := []string{productKey(after.ID)}
	if before.Title != after.Title || before.ClothesType != after.ClothesType ||
		before.Rating != after.Rating || before.CategoryID != after.CategoryID {
		keys = append(keys, "products")
	}
	if before.CategoryID != after.CategoryID {
		keys = append(keys, categoryKey(before.CategoryID), categoryKey(after.CategoryID))
	}
	if before.BrandID != after.BrandID {
		keys = append(keys, brandKey(before.BrandID), brandKey(after.BrandID))
	}
	return keys
}

func (a *API) adminDeleteProduct(w http.ResponseWriter, r *http.Request, p params, _ store.User) {
	gone, err := a.cfg.Shop.DeleteProduct(r.Context(), p.id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.cfg.Purger.Purge(productKey(gone.ID), "products", categoryKey(gone.CategoryID), brandKey(gone.BrandID))
	writeNoContent(w)
}

// adminCreateGroup serves category and brand creation (same shape).
func (a *API) adminCreateGroup(create func(ctx context.Context, title, imageURL string) (store.Category, error), listKey string) userHandler {
	return func(w http.ResponseWriter, r *http.Request, _ params, _ store.User) {
		var in struct {
			Title    json.RawMessage `json:"title"`
			ImageURL json.RawMessage `json:"image_url"`
		}
		if err := decodeJSON(r, &in); err != nil {
			a.fail(w, r, err)
			return
		}
		v := validation{}
		title := textField(v, "title", in.Title, 1, maxTitleLen)
		if title == nil && v["title"] == nil {
			v.add("title", "required")
		}
		imageURL := textField(v, "image_url", in.ImageURL, 0, maxImageURLLen)
		if err := v.err(); err != nil {
			a.fail(w, r, err)
			return
		}
		if imageURL == nil {
			imageURL = new(string)
		}
		c, err := create(r.Context(), *title, *imageURL)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.cfg.Purger.Purge(listKey)
		writeJSON(w, http.StatusCreated, appendCategory(nil, &c))
	}
}

// adminDeleteGroup serves category and brand deletion: 409 in_use while
// products use it.
func (a *API) adminDeleteGroup(del func(ctx context.Context, id int64) error, listKey, keyPrefix, noun string) userHandler {
	return func(w http.ResponseWriter, r *http.Request, p params, _ store.User) {
		err := del(r.Context(), p.id)
		if errors.Is(err, store.ErrInUse) {
			err = &apiError{status: http.StatusConflict, code: "in_use",
				detail: "this " + noun + " still has products; move or delete them first"}
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.cfg.Purger.Purge(listKey, keyPrefix+strconv.FormatInt(p.id, 10))
		writeNoContent(w)
	}
}

func (a *API) adminOrders(w http.ResponseWriter, r *http.Request, _ params, _ store.User) {
	a.adminOrderPage(w, r, func(ctx context.Context, page, size int) ([]store.Order, int64, error) {
		return a.cfg.Shop.AllOrders(ctx, page, size)
	})
}

func (a *API) adminRecentOrders(w http.ResponseWriter, r *http.Request, _ params, _ store.User) {
	since := time.Now().Add(-recentOrdersSpan)
	a.adminOrderPage(w, r, func(ctx context.Context, page, size int) ([]store.Order, int64, error) {
		return a.cfg.Shop.RecentOrders(ctx, since, page, size)
	})
}

// adminOrderPage serves a page of orders, newest first (page and
// page_size as for products).
func (a *API) adminOrderPage(w http.ResponseWriter, r *http.Request, load func(ctx context.Context, page, size int) ([]store.Order, int64, error)) {
	page, size, _, err := pageParams(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	orders, total, err := load(r.Context(), page, size)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendOrderPage(make([]byte, 0, 8<<10), r, page, size, total, orders))
}

// statusBody reads {field: "..."} and checks it with valid.
func statusBody(r *http.Request, field string, valid func(string) bool, allowed string) (string, error) {
	var in map[string]json.RawMessage
	if err := decodeJSON(r, &in); err != nil {
		return "", err
	}
	var s string
	raw, ok := in[field]
	if !ok || isNull(raw) || json.Unmarshal(raw, &s) != nil || !valid(s) {
		return "", &apiError{status: http.StatusBadRequest, code: "invalid_status",
			detail: field + " must be one of " + allowed, fields: map[string][]string{field: {"must be one of " + allowed}}}
	}
	return s, nil
}

func (a *API) adminOrderStatus(w http.ResponseWriter, r *http.Request, p params, _ store.User) {
	status, err := statusBody(r, "status", store.ValidOrderStatus, "pending, processing, shipped, delivered, cancelled")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.cfg.Shop.SetOrderStatus(r.Context(), p.id, status)
	if errors.Is(err, store.ErrConflict) {
		err = &apiError{status: http.StatusConflict, code: "order_cancelled",
			detail: "a cancelled order keeps its status: its stock was put back"}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if o.Status == store.OrderCancelled {
		// Cancelling put the items back in stock: availability changed.
		// (Re-cancelling changes nothing and purges needlessly; harmless.)
		a.purgeStock(o.Items)
	}
	writeJSON(w, http.StatusOK, appendOrder(make([]byte, 0, 2048), &o))
}

func (a *API) adminPaymentStatus(w http.ResponseWriter, r *http.Request, p params, _ store.User) {
	status, err := statusBody(r, "payment_status", store.ValidPaymentStatus, "pending, completed, failed")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.cfg.Shop.SetPaymentStatus(r.Context(), p.id, status)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Payment status shows in no cached response: nothing to purge.
	writeJSON(w, http.StatusOK, appendOrder(make([]byte, 0, 2048), &o))
}

func productKey(id int64) string  { return "product-" + strconv.FormatInt(id, 10) }
func categoryKey(id int64) string { return "category-" + strconv.FormatInt(id, 10) }
func brandKey(id int64) string    { return "brand-" + strconv.FormatInt(id, 10) }
