// Package seed generates the deterministic demo catalogue: the same count
// always yields the same categories, brands and products, byte for byte.
package seed

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"edgeshop/origin/store"
)

var categories = []string{"Shirts", "T-Shirts", "Jeans", "Trousers", "Dresses", "Skirts", "Jackets", "Coats",
	"Sweaters", "Hoodies", "Shorts", "Sneakers", "Boots", "Activewear", "Accessories"}

var brands = []string{"Uniqlo", "Zara", "H&M", "Levi's", "Nike", "Adidas", "Gap", "Mango", "Puma",
	"Patagonia", "Columbia", "Lacoste", "Ralph Lauren", "Tommy Hilfiger", "Calvin Klein", "Massimo Dutti",
	"Converse", "Vans", "New Balance", "Reebok"}

var adjectives = []string{"Classic", "Slim", "Relaxed", "Vintage", "Essential", "Premium", "Organic", "Oversized",
	"Cropped", "Heritage", "Urban", "Summer", "Winter", "Lightweight", "Quilted", "Striped", "Washed", "Tailored",
	"Everyday", "Performance"}

// nouns per category index, so titles read like the category.
var nouns = [][]string{
	{"Henley", "Oxford Shirt", "Flannel Shirt", "Linen Shirt", "Denim Shirt"},
	{"Crew Tee", "V-Neck Tee", "Graphic Tee", "Pocket Tee", "Tank Top"},
	{"Straight Jeans", "Skinny Jeans", "Bootcut Jeans", "Mom Jeans", "Wide Jeans"},
	{"Chinos", "Cargo Pants", "Joggers", "Pleated Trousers", "Linen Trousers"},
	{"Wrap Dress", "Maxi Dress", "Shirt Dress", "Slip Dress", "Sweater Dress"},
	{"Midi Skirt", "Pleated Skirt", "Denim Skirt", "Mini Skirt", "A-Line Skirt"},
	{"Bomber Jacket", "Denim Jacket", "Puffer Jacket", "Field Jacket", "Rain Jacket"},
	{"Wool Coat", "Trench Coat", "Parka", "Overcoat", "Peacoat"},
	{"Cardigan", "Crewneck Sweater", "Turtleneck", "Cable Knit", "Quarter Zip"},
	{"Hoodie", "Zip Hoodie", "Fleece Hoodie", "Pullover", "Sweatshirt"},
	{"Chino Shorts", "Denim Shorts", "Running Shorts", "Board Shorts", "Cargo Shorts"},
	{"Low Sneakers", "High Tops", "Runners", "Court Sneakers", "Slip-Ons"},
	{"Chelsea Boots", "Hiking Boots", "Combat Boots", "Ankle Boots", "Desert Boots"},
	{"Leggings", "Sports Bra", "Training Tee", "Track Jacket", "Yoga Pants"},
	{"Cap", "Beanie", "Scarf", "Belt", "Tote Bag"},
}

var types = []string{"men", "women", "kids", "unisex"}
var colors = []string{"black", "white", "navy", "grey", "beige", "red", "green", "blue", "brown", "pink"}
var sizes = []string{"XS", "S", "M", "L", "XL", "XXL"}

// Catalogue returns the demo catalogue with n products.
func Catalogue(n int) store.Catalogue {
	c := store.Catalogue{Products: n}
	for i, t := range categories {
		c.Categories = append(c.Categories, store.Category{ID: int64(i + 1), Title: t,
			ImageURL: fmt.Sprintf("https://img.example.com/categories/%d.jpg", i+1)})
	}
	for i, t := range brands {
		c.Brands = append(c.Brands, store.Brand{ID: int64(i + 1), Title: t,
			ImageURL: fmt.Sprintf("https://img.example.com/brands/%d.jpg", i+1)})
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Product = func(i int) store.SeedProduct {
		// One generator per product, seeded by its index: product i is the
		// same whatever the count and whatever order they are made in.
		r := rand.New(rand.NewPCG(0x5eed, uint64(i)))
		id := int64(i + 1)
		cat := r.IntN(len(categories))
		brand := r.IntN(len(brands))
		noun := nouns[cat][r.IntN(len(nouns[cat]))]
		adj := adjectives[r.IntN(len(adjectives))]
		title := brands[brand] + " " + adj + " " + noun
		p := store.Product{
			ID:          id,
			Title:       title,
			PriceCents:  int64(999 + r.IntN(25000)),
			Description: fmt.Sprintf("%s: a %s %s from the %s %s line.", title, strings.ToLower(adj), strings.ToLower(noun), brands[brand], strings.ToLower(categories[cat])),
			IsFeatured:  r.IntN(10) == 0,
			ClothesType: types[r.IntN(len(types))],
			Rating:      float64(20+r.IntN(31)) / 10,
			CategoryID:  int64(cat + 1),
			BrandID:     int64(brand + 1),
			Colors:      jsonList(pick(r, colors, 1+r.IntN(4))),
			Sizes:       jsonList(pick(r, sizes, 1+r.IntN(5))),
			ImageURLs: jsonList([]string{
				fmt.Sprintf("https://img.example.com/products/%d/1.jpg", id),
				fmt.Sprintf("https://img.example.com/products/%d/2.jpg", id),
			}),
			CreatedAt: base.Add(time.Duration(i) * 7 * time.Minute).Format(time.RFC3339),
		}
		return store.SeedProduct{Product: p, Stock: int64(r.IntN(101)), RandKey: r.Int64N(1_000_000_000)}
	}
	return c
}

// pick returns k distinct items of from, in from's order.
func pick(r *rand.Rand, from []string, k int) []string {
	idx := r.Perm(len(from))[:k]
	seen := make([]bool, len(from))
	for _, i := range idx {
		seen[i] = true
	}
	out := make([]string, 0, k)
	for i, s := range from {
		if seen[i] {
			out = append(out, s)
		}
	}
	return out
}

func jsonList(items []string) []byte {
	b, _ := json.Marshal(items) // strings always marshal
	return b
}
