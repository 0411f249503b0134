package snapshot

import "strings"

// placeRef is an entry's Address held as spans of its address text: 20
// bytes and no pointer in the common case, where the old six strings took
// 96 bytes and six pointers for the collector to follow in every cycle. The
// 시도 is the entry's sido index. An address whose parts are not all
// verbatim in the text (an inferred 시군구, "수원시 장안구" written with two
// spaces, a road joined to its branch written apart) keeps its Address in
// other instead.
type placeRef struct {
	span  [5]uint32 // Sigungu, Dong, Ri, Road, Bldg: offset<<16 | length
	other *Address
}

func newPlaceRef(a Address, addr string) placeRef {
	var r placeRef
	if a.Sido != "" && sidoIndex(a.Sido) < 0 {
		r.other = &a
		return r
	}
	from := 0
	for k, part := range [5]string{a.Sigungu, a.Dong, a.Ri, a.Road, a.Bldg} {
		if part == "" {
			continue
		}
		// Parts appear in the address in this order (the 동 of a
		// parenthesis last, so searched from the start if not after).
		i := strings.Index(addr[from:], part)
		if i >= 0 {
			i += from
		} else {
			i = strings.Index(addr, part)
		}
		if i < 0 || i > 0xffff || len(part) > 0xffff {
			r = placeRef{other: &a}
			return r
		}
		r.span[k] = uint32(i)<<16 | uint32(len(part))
		from = i + len(part)
	}
	return r
}

// address is the Address of r, whose spans are of addr, in the 시도 sido.
func (r placeRef) address(addr string, sido int) Address {
	if r.other != nil {
		return *r.other
	}
	part := func(k int) string {
		s := r.span[k]
		off, n := int(s>>16), int(s&0xffff)
		return addr[off : off+n]
	}
	a := Address{Sigungu: part(0), Dong: part(1), Ri: part(2), Road: part(3), Bldg: part(4)}
	if sido < nSido {
		a.Sido = sidoNames[sido]
	}
	return a
}
