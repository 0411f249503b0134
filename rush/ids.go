package rush

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// cohorts is Korea's population in 2020 by five-year birth cohort
// (thousands, rounded from the 2020 census; people born before 1930 are
// left out). Buyers are drawn from it so that the age mix at the counter,
// and therefore the share of each birth-year digit, looks like 2020's.
var cohorts = []struct {
	from, to int // birth years, inclusive
	thousand int
}{
	{1930, 1934, 450}, {1935, 1939, 900}, {1940, 1944, 1500}, {1945, 1949, 1800},
	{1950, 1954, 2400}, {1955, 1959, 3600}, {1960, 1964, 4200}, {1965, 1969, 4200},
	{1970, 1974, 4300}, {1975, 1979, 4100}, {1980, 1984, 4000}, {1985, 1989, 3500},
	{1990, 1994, 3300}, {1995, 1999, 3400}, {2000, 2004, 2600}, {2005, 2009, 2300},
	{2010, 2014, 2300}, {2015, 2019, 1900},
}

// yearWeights is the population of each birth year 1930–2019 (a cohort
// spread evenly over its five years).
func yearWeights() (years []int, w []float64) {
	for _, c := range cohorts {
		for y := c.from; y <= c.to; y++ {
			years = append(years, y)
			w = append(w, float64(c.thousand)/float64(c.to-c.from+1))
		}
	}
	return years, w
}

// Population draws synthetic residents. It is not safe for concurrent use.
type Population struct {
	rng    *rand.Rand
	ok     *picker // years whose last digit may buy today
	wrong  *picker // years that may not (nil when everyone may)
	years  []int
	issued map[uint64]struct{} // the IDs' digits as a number: no string to hash
}

// NewPopulation returns a population for a day on which birth years ending
// in one of digits may buy (nil or empty digits: anyone may).
func NewPopulation(seed uint64, digits []int) *Population {
	years, w := yearWeights()
	allowed := map[int]bool{}
	for _, d := range digits {
		allowed[d] = true
	}
	var okW, wrongW []float64
	for i, y := range years {
		if len(allowed) == 0 || allowed[y%10] {
			okW = append(okW, w[i])
			wrongW = append(wrongW, 0)
		} else {
			okW = append(okW, 0)
			wrongW = append(wrongW, w[i])
		}
	}
	p := &Population{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		years:  years,
		issued: map[uint64]struct{}{},
	}
	p.ok = newPicker(okW)
	if len(allowed) > 0 {
		p.wrong = newPicker(wrongW)
	}
	return p
}

// Eligible returns a new resident (never returned before by this
// Population) born in a year that may buy today.
func (p *Population) Eligible() (id string, birthYear int) {
	return p.fresh(p.ok)
}

// WrongDay returns a new resident born in a year that may not buy today;
// ok is false when the day has no rotation.
func (p *Population) WrongDay() (id string, birthYear int, ok bool) {
	if p.wrong == nil {
		return "", 0, false
	}
	id, y := p.fresh(p.wrong)
	return id, y, true
}

func (p *Population) fresh(pk *picker) (string, int) {
	for {
		y := p.years[pk.pick(p.rng)]
		id := RandomID(p.rng, y)
		k := idKey(id)
		if _, dup := p.issued[k]; !dup {
			p.issued[k] = struct{}{}
			return id, y
		}
	}
}

// idKey is an ID of 13 digits as the number they write (one ID, one key).
func idKey(id string) uint64 {
	var k uint64
	for i := 0; i < len(id); i++ {
		k = k*10 + uint64(id[i]-'0')
	}
	return k
}

// Mistype returns id with one of its first 12 digits changed or two
// neighbours swapped, such that the result fails validation (bad check
// digit or impossible date): what a hurried pharmacist types.
func (p *Population) Mistype(id string) string {
	for {
		b := []byte(id)
		if p.rng.IntN(2) == 0 {
			i := p.rng.IntN(12)
			b[i] = byte('0' + (int(b[i]-'0')+1+p.rng.IntN(9))%10)
		} else {
			i := p.rng.IntN(12)
			b[i], b[i+1] = b[i+1], b[i]
		}
		if s := string(b); s != id && !ValidID(s) {
			return s
		}
	}
}

// RandomID returns a valid resident registration number of someone born in
// year (1900–2099): YYMMDD, the century/sex digit (1/2 for the 1900s, 3/4
// for the 2000s), a random 5-digit serial and the check digit.
func RandomID(rng *rand.Rand, year int) string {
	start := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	days := start.AddDate(1, 0, 0).Sub(start).Hours() / 24
	d := start.AddDate(0, 0, rng.IntN(int(days)))
	sex := 1 + rng.IntN(2)
	if year >= 2000 {
		sex += 2
	}
	// Appended in place: Format's and Itoa's strings were two of the
	// three allocations of every buyer drawn.
	var a [16]byte
	b := d.AppendFormat(a[:0], "060102")
	b = append(b, byte('0'+sex))
	b = strconv.AppendInt(b, int64(10000+rng.IntN(90000)), 10)
	b = append(b, byte('0'+CheckDigit(string(b))))
	return string(b)
}

var checkWeights = [12]int{2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5}

// CheckDigit computes the residents' check digit over the first 12 digits:
// (11 − Σ wᵢdᵢ mod 11) mod 10.
func CheckDigit(first12 string) int {
	sum := 0
	for i := range 12 {
		sum += checkWeights[i] * int(first12[i]-'0')
	}
	return (11 - sum%11) % 10
}

// ValidID reports whether s is a well-formed registration number (13
// digits, century/sex digit 1–8, a real date, the right check digit). It is the
// generator's own check, independent of the server's parser, so that the
// simulator's "mistyped" buyers really are invalid.
func ValidID(s string) bool {
	if len(s) != 13 {
		return false
	}
	for i := range 13 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	// Residents 1–4, foreigners 5–8 (whose check digit is offset by 2):
	// the server accepts both, so a "mistyped" ID must fail both.
	var century, offset int
	switch s[6] {
	case '1', '2':
		century = 1900
	case '3', '4':
		century = 2000
	case '5', '6':
		century, offset = 1900, 2
	case '7', '8':
		century, offset = 2000, 2
	default:
		return false
	}
	y, _ := strconv.Atoi(s[0:2])
	m, _ := strconv.Atoi(s[2:4])
	d, _ := strconv.Atoi(s[4:6])
	t := time.Date(century+y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != century+y || int(t.Month()) != m || t.Day() != d {
		return false
	}
	return (CheckDigit(s)+offset)%10 == int(s[12]-'0')
}

// BirthYear of a valid resident number.
func BirthYear(s string) int {
	y, _ := strconv.Atoi(s[0:2])
	if s[6] == '3' || s[6] == '4' {
		return 2000 + y
	}
	return 1900 + y
}

// picker draws an index with probability proportional to its weight
// (cumulative weights and a binary search: O(log n), no allocation).
type picker struct {
	cum []float64
}

func newPicker(w []float64) *picker {
	cum := make([]float64, len(w))
	s := 0.0
	for i, x := range w {
		s += x
		cum[i] = s
	}
	return &picker{cum: cum}
}

func (p *picker) pick(rng *rand.Rand) int {
	total := p.cum[len(p.cum)-1]
	x := rng.Float64() * total
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if p.cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
