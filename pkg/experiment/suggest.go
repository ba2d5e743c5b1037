package experiment

import "strings"

// suggest returns the candidate closest to got, or "" when none is close
// enough to be a plausible typo. Case differences count as nearly nothing,
// because "ApiVersion" and "apiversion" are the usual mistakes.
func suggest(got string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(got), strings.ToLower(c))
		if d > maxTypos(c) {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// maxTypos is how many edits still read as a typo of name: one for short
// names (where two edits turn "pod" into "pick"), up to a third of longer
// ones.
func maxTypos(name string) int {
	switch n := len(name); {
	case n <= 4:
		return 1
	case n <= 9:
		return 2
	default:
		return n / 3
	}
}

// editDistance is the optimal string alignment distance (Levenshtein plus
// transposition of two adjacent characters, the commonest typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rolling rows: the transposition step looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
