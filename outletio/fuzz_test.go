package outletio

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/publicmask/publicmask"
)

// checkResult holds for any input: no panic, every accepted outlet is valid,
// codes are unique, and accepted outlets survive a CSV round trip unchanged.
func checkResult(t *testing.T, outs []publicmask.Outlet, rej []Rejected, err error) {
	if err != nil {
		if c := publicmask.ErrorCode(err); c != publicmask.EBadRequest && c != publicmask.EBodyTooLarge {
			t.Fatalf("error with code %q: %v", c, err)
		}
		return
	}
	seen := map[string]bool{}
	for _, o := range outs {
		switch {
		case !ValidCode(o.Code), seen[o.Code]:
			t.Fatalf("bad or duplicate code %q", o.Code)
		case o.Name == "" || !utf8.ValidString(o.Name) || !utf8.ValidString(o.Addr):
			t.Fatalf("bad text %+v", o)
		case !publicmask.ValidOutletType(o.Type):
			t.Fatalf("bad type %+v", o)
		case !(o.Lat >= MinLat && o.Lat <= MaxLat && o.Lng >= MinLng && o.Lng <= MaxLng):
			t.Fatalf("bad coordinates %+v", o)
		}
		seen[o.Code] = true
	}
	for _, r := range rej {
		if r.Reason == "" || (r.Code != "" && !ValidCode(r.Code)) {
			t.Fatalf("bad rejection %+v", r)
		}
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, outs); err != nil {
		t.Fatal(err)
	}
	back, rej2, err := ParseCSV(&buf)
	if err != nil || len(rej2) != 0 || len(back) != len(outs) {
		t.Fatalf("round trip: %d→%d, %v, %v", len(outs), len(back), rej2, err)
	}
	for i := range outs {
		if back[i] != outs[i] {
			t.Fatalf("round trip changed %+v into %+v", outs[i], back[i])
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"code,name,addr,type,lat,lng\n34840559,신신약국,충청남도 홍성군 갈산면 상촌로 12-1,01,36.6029863,126.5489114\n",
		"\uFEFFcode,name,addr,type,lat,lng\r\n5128205445,영주농협하나로마트평은점,경상북도 영주시 평은면 금광1리 260번지,03,,\r\n",
		"lat,lng,code,name,type\n37.5,127,1,A,02\n37.5,127,1,B,02\n",
		"code,name,addr,type,lat,lng\n37849310,메가약국,\"대구광역시 달성군 유가읍 테크노순환로12길 4 111,112호\",01,35.6932874,128.4706272\n",
		"code,name,addr,type,lat,lng\n1,\"unterminated,a,01,37,127\n",
		"code,name,addr,type,lat,lng\n1,A,a,01,1e400,127\n2,B, ,01, 37 , 127 \n",
		"code\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		outs, rej, err := ParseCSV(bytes.NewReader(data))
		checkResult(t, outs, rej, err)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`[{"code":"11837497","name":"문화약국","addr":"서울특별시 용산구  장문로  114-1 (보광동)","type":"01","lat":37.5266681,"lng":127.0022624}]`,
		`{"count":1,"page":"1","storeInfos":[{"code":"1","name":"A","addr":"a","type":"01","lat":"37.5","lng":"127"}],"totalCount":1,"totalPages":1}`,
		`{"count":2,"stores":[{"code":12820326,"name":"A","type":"01","lat":37.6,"lng":127.0,"created_at":null},{"code":"12820326","name":"B","type":"02","lat":37.6,"lng":127.0}]}`,
		`[1,null,"x",{"code":null},{"code":"1","name":"A","type":"04","lat":37,"lng":127}]`,
		`[{"code":"1","name":"A","type":"01","lat":-1e999,"lng":127}]`,
		`{"storeInfos":`,
		`[] x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		outs, rej, err := ParseJSON(bytes.NewReader(data))
		checkResult(t, outs, rej, err)
		if err == nil && !strings.Contains(string(data), "[") {
			t.Fatalf("accepted JSON without an array: %q", data)
		}
	})
}
