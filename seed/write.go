package seed

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/publicmask/publicmask"
)

// WriteCSV writes the outlets with the header code,name,addr,type,lat,lng,
// the shape of the 2020 national list and of the admin import.
func WriteCSV(w io.Writer, outlets []publicmask.Outlet) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"code", "name", "addr", "type", "lat", "lng"}); err != nil {
		return err
	}
	rec := make([]string, 6)
	for i := range outlets {
		o := &outlets[i]
		rec[0], rec[1], rec[2], rec[3] = o.Code, o.Name, o.Addr, o.Type
		rec[4] = strconv.FormatFloat(o.Lat, 'f', -1, 64)
		rec[5] = strconv.FormatFloat(o.Lng, 'f', -1, 64)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// storeInfo is one record of the 2020 open API stores list.
type storeInfo struct {
	Code string  `json:"code"`
	Name string  `json:"name"`
	Addr string  `json:"addr"`
	Type string  `json:"type"`
	Lat  float64 `json:"lat"`
	Lng  float64 `json:"lng"`
}

// WriteJSON writes {"storeInfos":[{code,name,addr,type,lat,lng}]} as in the
// 2020 open API (lat/lng as numbers), which the admin import also accepts.
func WriteJSON(w io.Writer, outlets []publicmask.Outlet) error {
	infos := make([]storeInfo, len(outlets))
	for i := range outlets {
		o := &outlets[i]
		infos[i] = storeInfo{o.Code, o.Name, o.Addr, o.Type, o.Lat, o.Lng}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep names readable; nothing here is HTML
	if err := enc.Encode(struct {
		StoreInfos []storeInfo `json:"storeInfos"`
	}{infos}); err != nil {
		return err
	}
	return bw.Flush()
}
