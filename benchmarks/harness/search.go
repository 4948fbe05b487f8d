package main

// searchMax finds the largest k in [lo, hi] for which pass(k) holds,
// assuming pass is monotone (true up to some k, false above): doubling from
// lo until a failure (or hi), then bisecting until the gap between the last
// pass and the first failure is at most step. It returns 0 when lo itself
// fails, and the values it tried, in order.
func searchMax(lo, hi, step int, pass func(k int) bool) (best int, tried []int) {
	if step < 1 {
		step = 1
	}
	try := func(k int) bool {
		tried = append(tried, k)
		return pass(k)
	}
	if lo > hi || !try(lo) {
		return 0, tried
	}
	good, bad := lo, hi+1
	for k := lo * 2; ; k *= 2 {
		if k > hi {
			k = hi
		}
		if k <= good {
			break
		}
		if !try(k) {
			bad = k
			break
		}
		good = k
		if k == hi {
			return good, tried
		}
	}
	for bad-good > step {
		mid := good + (bad-good)/2
		if try(mid) {
			good = mid
		} else {
			bad = mid
		}
	}
	return good, tried
}
