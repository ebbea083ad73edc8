// Package ipamd owns ipamwatch's view of the VPC CNI's ipamd introspection endpoint: a bounded
// HTTP client (TCP or unix socket) and decoders for /v1/enis in every shape ipamd has written
// since v1.12, /v1/eni-configs and the two env-settings routes. Decoding turns the datastore dump
// into nodestate.IPAMD with per-ENI derived counts (slots, /32 vs /28, assigned, cooldown, free);
// turning that into metrics is somebody else's small step.
package ipamd

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/limitio"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnsupportedVersion is returned for the pre-1.7 /v1/enis shape (ENIIPPools), which
	// cannot be read without guessing.
	ErrUnsupportedVersion = errors.New("unsupported CNI version: /v1/enis is in a pre-v1.9 shape (ENIIPPools or IPv4Addresses)")
	// ErrAvailableCommands is returned when ipamd answered 200 with {"AvailableCommands":[...]},
	// its reply to a route it does not know.
	ErrAvailableCommands = errors.New(`ipamd answered {"AvailableCommands":...}: route not served by this CNI version`)
	// ErrEmpty is returned for an empty body (bundles written with curl >> often hold one).
	ErrEmpty = errors.New("empty response")
	// ErrBodyTooLarge is returned when a body exceeds the configured limit.
	ErrBodyTooLarge = errors.New("response body exceeds size limit")
	// ErrImplausible is returned for an answer that lists more than any instance type can
	// hold (see MaxENIs): it is refused whole rather than diagnosed from a cut-off part.
	ErrImplausible = errors.New("implausible ipamd answer")
)

// Bounds on one /v1/enis answer. The CNI's own limits table (pkg/vpc/vpc_ip_resource_limit.go,
// v1.23.0, 1,392 instance types) has at most 80 ENIs on one instance (trn1n.32xlarge: 16
// network cards x 5), at most 24 on one card (c8a.48xlarge and others), at most 64 IPv4
// addresses per ENI (the c8a family) and at most 32 network cards (p5.48xlarge). With prefix
// delegation on every card the most addresses an instance can hold is 80 x 49 x 16 = 62,720
// (trn1n.32xlarge). An answer beyond these bounds is no node's datastore; decoding stops at
// the bound and fails with ErrImplausible, so memory stays that of a real node's answer
// whatever the body holds.
const (
	// MaxENIs bounds the ENIs of one answer (80 real), and so the agent's per-ENI series.
	MaxENIs = 128
	// MaxCIDRsPerENI bounds the address slots (/32s, /28s, IPv6 prefixes) of one ENI (63 real).
	MaxCIDRsPerENI = 128
	// MaxAddressEntries bounds the IPAddresses entries of the whole answer (62,720 real).
	MaxAddressEntries = 1 << 16
	// maxIDBytes bounds ENI and subnet ids ("eni-" and 17 hex digits is 21 bytes) and the
	// route-table number.
	maxIDBytes = 64
)

// Shapes of /v1/enis, as stored in nodestate.IPAMD.Shape.
const (
	ShapeSingle    = "single"     // v1.12-v1.19: one ENIInfos object
	ShapeMultiCard = "multi_card" // v1.20+: map of network-card index to ENIInfos
)

// DefaultCooldown is ipamd's IP_COOLDOWN_PERIOD default: getCooldownPeriod in
// pkg/ipamd/datastore/data_store.go (v1.23.0) reads the variable with a default of 30 seconds.
const DefaultCooldown = 30 * time.Second

// DefaultMaxBodyBytes bounds every body read when no limit is given.
const DefaultMaxBodyBytes int64 = 16 << 20

// maxNetworkCards bounds the card index accepted as a map key (32 real, p5.48xlarge): it is
// a label value, and a bound keeps a hostile key from becoming a huge NetworkCard value.
const maxNetworkCards = 64

// Wire types: only the fields ipamwatch derives from. Unknown fields are ignored, so newer
// CNI versions that add fields keep decoding.
type wireInfos struct {
	TotalIPs    int64
	AssignedIPs int64
	ENIs        eniStream
}

// decodeState is what one decode accumulates and counts against the bounds above.
type decodeState struct {
	out      nodestate.IPAMD
	now      time.Time
	cooldown time.Duration
	addrs    int   // IPAddresses entries so far
	err      error // the first error of the streaming decoders, kept whole
}

// fail records err and returns it: json/v2 wraps what the streaming decoders return in a
// message about Go types, so decodeENIs reports the recorded error instead.
func (ds *decodeState) fail(err error) error {
	if ds.err == nil {
		ds.err = err
	}
	return err
}

type wireENI struct {
	ID                  string
	IsPrimary           bool
	IsTrunk             bool
	IsEFA               bool
	DeviceNumber        int
	AvailableIPv4Cidrs  cidrStream
	IPv6Cidrs           cidrStream
	RouteTableID        flexString // v1.20.3+: the host routing-table number (an int), not an rtb- id
	IsExcludedForPodIPs bool       // v1.22+
	SubnetID            string     // v1.22+
	// IPv4Addresses is how ENIs listed addresses before AvailableIPv4Cidrs (v1.9): its
	// presence means a shape too old to count slots from.
	IPv4Addresses presence
}

// presence records that a member exists and skips its value without storing it.
type presence bool

func (p *presence) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*p = dec.PeekKind() != 'n'
	return dec.SkipValue()
}

type wireCidr struct {
	Cidr struct {
		IP   string
		Mask []byte // encoding/json decodes the base64 of the mask bytes
	}
	IPAddresses addrSummary
	IsPrefix    bool
}

type wireAddr struct {
	IPAMKey struct {
		NetworkName string `json:"networkName"`
	}
	IPAMMetadata struct {
		K8SPodName string `json:"k8sPodName"`
	}
	UnassignedTime time.Time
}

// flexString accepts a JSON number or string (or null) and keeps its text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*f = flexString(b)
	default:
		return fmt.Errorf("expected a number or string, got %s", truncate(string(b), 20))
	}
	return nil
}

// DecodeENIs decodes a /v1/enis body in any supported shape, judging cooldown against the
// current time and DefaultCooldown.
func DecodeENIs(data []byte) (*nodestate.IPAMD, error) {
	return DecodeENIsAt(data, time.Now(), DefaultCooldown)
}

// DecodeENIsAt is DecodeENIs with an explicit clock and IP_COOLDOWN_PERIOD: a released address
// (empty IPAMKey, non-zero UnassignedTime) counts as in cooldown while now-UnassignedTime <=
// cooldown. A cooldown <= 0 means no address is ever in cooldown.
func DecodeENIsAt(data []byte, now time.Time, cooldown time.Duration) (*nodestate.IPAMD, error) {
	return decodeENIs(newDecoder(bytes.NewReader(data)), now, cooldown)
}

// DecodeENIsReader decodes a /v1/enis body from r, reading at most limit bytes (limit <= 0
// means DefaultMaxBodyBytes); a longer body fails with ErrBodyTooLarge. The top-level object
// is walked token by token and each network card decoded as it streams past, so the raw body
// is never held in memory as a whole.
func DecodeENIsReader(r io.Reader, limit int64) (*nodestate.IPAMD, error) {
	return DecodeENIsReaderAt(r, limit, time.Now(), DefaultCooldown)
}

// DecodeENIsReaderAt is DecodeENIsReader with an explicit clock and cooldown (see DecodeENIsAt).
func DecodeENIsReaderAt(r io.Reader, limit int64, now time.Time, cooldown time.Duration) (*nodestate.IPAMD, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	return decodeENIs(newDecoder(limitio.Reader(r, limit, ErrBodyTooLarge)), now, cooldown)
}

// decodeOptions keep encoding/json's v1 leniency (ipamd's output is produced by v1): field
// names match case-insensitively, duplicate names and invalid UTF-8 are tolerated.
var decodeOptions = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

func newDecoder(r io.Reader) *jsontext.Decoder {
	return jsontext.NewDecoder(&tokenLimiter{r: r}, decodeOptions)
}

// maxTokenBytes bounds one JSON string or literal. The decoder holds a whole token in its
// buffer, growing it by doubling, so a single 16 MiB string cost the agent 160 MiB of RSS.
// ipamd's longest values are pod names and namespaces (253 bytes at most) and timestamps.
const maxTokenBytes = 4096

// ErrTokenTooLong is returned for a JSON string or literal longer than maxTokenBytes.
var ErrTokenTooLong = fmt.Errorf("%w: a JSON value longer than %d bytes", ErrImplausible, maxTokenBytes)

// tokenLimiter passes JSON through and fails, before the decoder buffers it, once a string
// or a bare literal (number, true, false, null) or a run of whitespace grows past
// maxTokenBytes. It tracks only what it needs: in or out of a string, after a backslash.
type tokenLimiter struct {
	r        io.Reader
	inString bool
	escaped  bool
	run      int // bytes of the current string, literal or whitespace run
	err      error
}

func (t *tokenLimiter) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case t.inString:
			switch {
			case t.escaped:
				t.escaped = false
			case c == '\\':
				t.escaped = true
			case c == '"':
				t.inString, t.run = false, 0
				continue
			}
			t.run++
		case c == '"':
			t.inString, t.run = true, 0
		case c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',':
			t.run = 0
		default: // literal bytes and whitespace
			t.run++
		}
		if t.run > maxTokenBytes {
			t.err = ErrTokenTooLong
			return i, t.err
		}
	}
	return n, err
}

// decodeENIs walks the top-level object token by token and decodes each member as it streams
// past, so memory follows the decoded state, not the size of the body.
func decodeENIs(dec *jsontext.Decoder, now time.Time, cooldown time.Duration) (*nodestate.IPAMD, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decoding /v1/enis: %w", ErrEmpty)
		}
		return nil, fmt.Errorf("decoding /v1/enis: %w", err)
	}
	if tok.Kind() != '{' {
		return nil, fmt.Errorf("decoding /v1/enis: expected a JSON object, got %s", describeKind(tok.Kind()))
	}

	ds := &decodeState{now: now, cooldown: cooldown}
	var (
		single      = wireInfos{ENIs: eniStream{st: ds}}
		sawSingle   bool
		sawCard     bool
		seenCards   = map[int]bool{}
		totalIPs    int64
		assignedIPs int64
	)
	decode := func(what string, v any) error {
		if err := jsonv2.UnmarshalDecode(dec, v, decodeOptions); err != nil {
			if ds.err != nil {
				err = ds.err
			}
			if errors.Is(err, ErrImplausible) || errors.Is(err, ErrUnsupportedVersion) {
				return err
			}
			return fmt.Errorf("decoding /v1/enis %s: %w", what, err)
		}
		return nil
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("decoding /v1/enis: %w", err)
		}
		key := tok.String()
		switch strings.ToLower(key) { // case-insensitive, like the fields below
		case "eniippools":
			return nil, ErrUnsupportedVersion
		case "availablecommands":
			return nil, ErrAvailableCommands
		case "totalips":
			sawSingle = true
			if err := decode("TotalIPs", &single.TotalIPs); err != nil {
				return nil, err
			}
		case "assignedips":
			sawSingle = true
			if err := decode("AssignedIPs", &single.AssignedIPs); err != nil {
				return nil, err
			}
		case "enis":
			sawSingle = true
			if err := decode("ENIs", &single.ENIs); err != nil {
				return nil, err
			}
		default:
			card, convErr := strconv.Atoi(key)
			if convErr != nil || card < 0 || card >= maxNetworkCards || strconv.Itoa(card) != key {
				// Unknown top-level member: skip it so that additions in future versions do not
				// break decoding.
				if err := dec.SkipValue(); err != nil {
					return nil, fmt.Errorf("decoding /v1/enis member %q: %w", truncate(key, 40), err)
				}
				continue
			}
			if seenCards[card] {
				return nil, fmt.Errorf("decoding /v1/enis: network card %d listed twice", card)
			}
			seenCards[card] = true
			sawCard = true
			infos := wireInfos{ENIs: eniStream{st: ds, card: card}}
			if err := decode(fmt.Sprintf("network card %d", card), &infos); err != nil {
				return nil, err
			}
			totalIPs = addSat(totalIPs, infos.TotalIPs)
			assignedIPs = addSat(assignedIPs, infos.AssignedIPs)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // the closing brace
		return nil, fmt.Errorf("decoding /v1/enis: %w", err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err != nil && !isSyntax(err) {
			return nil, fmt.Errorf("decoding /v1/enis after the object: %w", err)
		}
		return nil, errors.New("decoding /v1/enis: unexpected data after the JSON object")
	}

	switch {
	case sawSingle && sawCard:
		return nil, errors.New("decoding /v1/enis: both ENIInfos fields and network-card keys at the top level")
	case sawSingle:
		ds.out.Shape = ShapeSingle
		totalIPs, assignedIPs = single.TotalIPs, single.AssignedIPs
	case sawCard:
		ds.out.Shape = ShapeMultiCard
	default:
		return nil, errors.New("decoding /v1/enis: object has neither ENIInfos fields nor network-card keys")
	}
	out := &ds.out
	out.TotalIPs = clampInt(totalIPs)
	out.AssignedIPs = clampInt(assignedIPs)
	slices.SortFunc(out.ENIs, func(a, b nodestate.ENI) int {
		if a.NetworkCard != b.NetworkCard {
			return a.NetworkCard - b.NetworkCard
		}
		if a.DeviceNumber != b.DeviceNumber {
			return a.DeviceNumber - b.DeviceNumber
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// eniStream decodes the ENIs map of one network card entry by entry, appending each ENI to
// the decode state as it streams past and refusing more than MaxENIs in the whole answer.
type eniStream struct {
	st   *decodeState
	card int
}

// UnmarshalJSONFrom is called by json/v2 with the decoder positioned at the map value.
func (es *eniStream) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	return eachEntry(dec, "ENIs", func(key string) error {
		if len(es.st.out.ENIs) >= MaxENIs {
			return es.st.fail(fmt.Errorf("%w: more than %d ENIs (the largest instance types have 80)", ErrImplausible, MaxENIs))
		}
		w := wireENI{AvailableIPv4Cidrs: cidrStream{st: es.st}, IPv6Cidrs: cidrStream{st: es.st}}
		if err := jsonv2.UnmarshalDecode(dec, &w, decodeOptions); err != nil {
			return err
		}
		if err := es.st.appendENI(key, &w, es.card); err != nil {
			return es.st.fail(err)
		}
		return nil
	})
}

// eachEntry walks the object value at dec (a null is an empty object): for each entry it
// reads the key and calls fn, which must decode the value. what names the object in errors.
func eachEntry(dec *jsontext.Decoder, what string, fn func(key string) error) error {
	if err := openObject(dec, what); err != nil || dec.PeekKind() == 'n' {
		if err == nil {
			_, err = dec.ReadToken()
		}
		return err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if err := fn(tok.String()); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// openObject reads the '{' of an object value, or leaves a null in place; anything else is an
// error naming what.
func openObject(dec *jsontext.Decoder, what string) error {
	switch k := dec.PeekKind(); k {
	case 'n':
		return nil
	case '{':
		_, err := dec.ReadToken()
		return err
	default:
		if _, err := dec.ReadToken(); err != nil {
			return err // truncated or malformed: the decoder's own error says where
		}
		return fmt.Errorf("%s: expected an object, got %s", what, describeKind(k))
	}
}

// cidrStream decodes an AvailableIPv4Cidrs or IPv6Cidrs map entry by entry, refusing more
// than MaxCIDRsPerENI.
type cidrStream struct {
	st   *decodeState
	list []keyedCidr
}

type keyedCidr struct {
	key  string
	cidr wireCidr
}

// UnmarshalJSONFrom is called by json/v2 with the decoder positioned at the map value.
func (cs *cidrStream) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	cs.list = cs.list[:0]
	return eachEntry(dec, "CIDRs", func(key string) error {
		if len(cs.list) >= MaxCIDRsPerENI {
			return cs.st.fail(fmt.Errorf("%w: more than %d address slots on one ENI (the most any instance type allows is 63)", ErrImplausible, MaxCIDRsPerENI))
		}
		kc := keyedCidr{key: key, cidr: wireCidr{IPAddresses: addrSummary{st: cs.st}}}
		if err := jsonv2.UnmarshalDecode(dec, &kc.cidr, decodeOptions); err != nil {
			return err
		}
		cs.list = append(cs.list, kc)
		return nil
	})
}

// appendENI derives the per-ENI counts of one decoded ENI.
func (ds *decodeState) appendENI(key string, w *wireENI, card int) error {
	if w.IPv4Addresses && len(w.AvailableIPv4Cidrs.list) == 0 {
		return fmt.Errorf("%w (ENI %s lists IPv4Addresses instead of AvailableIPv4Cidrs, as CNI releases before v1.9 did)",
			ErrUnsupportedVersion, truncate(key, 40))
	}
	e := nodestate.ENI{
		ID:           w.ID,
		NetworkCard:  card,
		DeviceNumber: w.DeviceNumber,
		SubnetID:     w.SubnetID,
		RouteTableID: string(w.RouteTableID),
		IsPrimary:    w.IsPrimary,
		IsTrunk:      w.IsTrunk,
		IsEFA:        w.IsEFA,
		IsExcluded:   w.IsExcludedForPodIPs,
	}
	if e.ID == "" {
		e.ID = key
	}
	for what, v := range map[string]string{"ENI id": e.ID, "subnet id": e.SubnetID, "route table": e.RouteTableID} {
		if len(v) > maxIDBytes {
			return fmt.Errorf("%w: %s of %d bytes (%s)", ErrImplausible, what, len(v), strconv.Quote(truncate(v, 40)))
		}
	}
	assigned4 := 0
	for _, cs := range []cidrStream{w.AvailableIPv4Cidrs, w.IPv6Cidrs} {
		for _, kc := range cs.list {
			c := kc.cidr
			p, err := cidrPrefix(kc.key, c)
			if err != nil {
				return fmt.Errorf("ENI %s: %w", truncate(e.ID, 40), err)
			}
			e.CIDRs = append(e.CIDRs, p.String())
			if p.Addr().Is6() {
				// IPv6 mode: one /80 per ENI. Count prefixes and the pods on them, but never
				// fold 2^48 addresses into the IPv4 arithmetic.
				e.IPv6Prefixes++
				e.Assigned += c.IPAddresses.assigned
				continue
			}
			size := 1 << (32 - p.Bits())
			if c.IsPrefix || p.Bits() < 32 {
				e.Prefixes++
			} else {
				e.SecondaryIPs++
			}
			e.Slots++
			e.Addresses += size
			assigned4 += c.IPAddresses.assigned
			for _, t := range c.IPAddresses.released {
				if ds.cooldown > 0 && ds.now.Sub(t) <= ds.cooldown {
					e.Cooldown++
				}
			}
		}
	}
	e.Assigned += assigned4
	e.Free = max(0, e.Addresses-assigned4-e.Cooldown)
	slices.Sort(e.CIDRs)
	ds.out.ENIs = append(ds.out.ENIs, e)
	return nil
}

// addrSummary is what the decoder keeps of a CIDR's IPAddresses map: the number of assigned
// entries and the release times of the others. Streaming the entries through one reused
// wireAddr instead of building a map keeps a large prefix-delegation node's decode cheap.
type addrSummary struct {
	st       *decodeState // counts entries against MaxAddressEntries
	assigned int
	released []time.Time
}

// UnmarshalJSONFrom is called by json/v2 with the decoder positioned at the map value.
func (s *addrSummary) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*s = addrSummary{st: s.st}
	switch k := dec.PeekKind(); k {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '{':
	default:
		return fmt.Errorf("IPAddresses: expected an object, got %v", k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	var a wireAddr
	for dec.PeekKind() != '}' {
		if _, err := dec.ReadToken(); err != nil { // the address key; its text is not needed
			return err
		}
		if s.st != nil {
			if s.st.addrs++; s.st.addrs > MaxAddressEntries {
				return s.st.fail(fmt.Errorf("%w: more than %d address entries (the most any instance type holds is 62,720)", ErrImplausible, MaxAddressEntries))
			}
		}
		a = wireAddr{}
		if err := jsonv2.UnmarshalDecode(dec, &a, decodeOptions); err != nil {
			return err
		}
		switch {
		case a.assigned():
			s.assigned++
		case !a.UnassignedTime.IsZero():
			s.released = append(s.released, a.UnassignedTime)
		}
	}
	_, err := dec.ReadToken()
	return err
}

// assigned follows ipamd: an address belongs to a pod when its key names a network; the pod
// name covers dumps where the key was blanked. containerID is blank since v1.23: never used.
func (a wireAddr) assigned() bool {
	return a.IPAMKey.NetworkName != "" || a.IPAMMetadata.K8SPodName != ""
}

// cidrPrefix reads the CIDR of one slot from its Cidr {IP, Mask} and falls back to the map key
// ("10.0.0.16/28") when Cidr is absent.
func cidrPrefix(key string, c wireCidr) (netip.Prefix, error) {
	if c.Cidr.IP == "" && len(c.Cidr.Mask) == 0 {
		p, err := netip.ParsePrefix(key)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("CIDR %q: %w", truncate(key, 60), err)
		}
		return unmapPrefix(p).Masked(), nil
	}
	addr, err := netip.ParseAddr(c.Cidr.IP)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("CIDR %q: bad IP: %w", truncate(key, 60), err)
	}
	addr = addr.Unmap()
	bits, err := maskBits(c.Cidr.Mask, addr.Is4())
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("CIDR %q: %w", truncate(key, 60), err)
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// maskBits turns the mask bytes into a prefix length, rejecting non-contiguous masks. A
// 16-byte mask on an IPv4 address (the v4-in-v6 form) loses its 96 leading ones.
func maskBits(mask []byte, is4 bool) (int, error) {
	switch {
	case is4 && len(mask) == 16:
		for _, b := range mask[:12] {
			if b != 0xff {
				return 0, errors.New("16-byte mask on an IPv4 address is not v4-in-v6")
			}
		}
		mask = mask[12:]
	case is4 && len(mask) != 4, !is4 && len(mask) != 16:
		return 0, fmt.Errorf("mask has %d bytes", len(mask))
	}
	ones, done := 0, false
	for _, b := range mask {
		for i := 7; i >= 0; i-- {
			set := b&(1<<i) != 0
			switch {
			case set && done:
				return 0, errors.New("mask is not contiguous")
			case set:
				ones++
			default:
				done = true
			}
		}
	}
	return ones, nil
}

// DecodeENIConfig decodes /v1/eni-configs: a JSON string naming the node's ENIConfig, a
// Kubernetes object name (at most 253 bytes).
func DecodeENIConfig(data []byte) (string, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", fmt.Errorf("decoding /v1/eni-configs: %w", ErrEmpty)
	}
	if data[0] == '{' && isAvailableCommands(data) {
		return "", ErrAvailableCommands
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return "", fmt.Errorf("decoding /v1/eni-configs: expected a JSON string: %w", err)
	}
	if len(s) > maxObjectName {
		return "", fmt.Errorf("decoding /v1/eni-configs: %w: a name of %d bytes (Kubernetes names have at most %d)", ErrImplausible, len(s), maxObjectName)
	}
	return s, nil
}

// Bounds on the env-settings routes: ipamd lists 5 settings and networkutils 8 (GetConfigForDebug
// in pkg/ipamd/ipamd.go and pkg/networkutils/network.go, v1.23.0); values are short flags,
// numbers and CIDR lists.
const (
	maxObjectName    = 253
	maxEnvEntries    = 256
	maxEnvValueBytes = 4096
)

// DecodeEnvSettings decodes /v1/ipamd-env-settings or /v1/networkutils-env-settings: a flat
// object whose values become strings (numbers keep their literal text, booleans "true"/"false",
// null ""). A nested value is kept as compact JSON text rather than failing the whole answer.
// The object is read member by member, at most maxEnvEntries of at most maxEnvValueBytes.
func DecodeEnvSettings(data []byte) (map[string]string, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("decoding env settings: %w", ErrEmpty)
	}
	notObject := func(err error) error {
		return fmt.Errorf("decoding env settings: expected a JSON object: %w", err)
	}
	dec := newDecoder(bytes.NewReader(data))
	tok, err := dec.ReadToken()
	switch {
	case err != nil:
		return nil, notObject(err)
	case tok.Kind() == 'n':
		return nil, errors.New("decoding env settings: expected a JSON object, got null")
	case tok.Kind() != '{':
		return nil, notObject(fmt.Errorf("got %s", describeKind(tok.Kind())))
	}
	tooLong := func(k string) error {
		return fmt.Errorf("decoding env settings: %w: setting %q longer than %d bytes", ErrImplausible, truncate(k, 40), maxEnvValueBytes)
	}
	out := map[string]string{}
	for dec.PeekKind() != '}' {
		kt, err := dec.ReadToken()
		if err != nil {
			return nil, notObject(err)
		}
		k := kt.String()
		if k == "AvailableCommands" {
			return nil, ErrAvailableCommands
		}
		if _, dup := out[k]; !dup && len(out) >= maxEnvEntries {
			return nil, fmt.Errorf("decoding env settings: %w: more than %d settings", ErrImplausible, maxEnvEntries)
		}
		var v string
		switch dec.PeekKind() {
		case '"':
			vt, err := dec.ReadToken()
			if err != nil {
				return nil, fmt.Errorf("decoding env settings %q: %w", truncate(k, 40), err)
			}
			v = vt.String()
		case 'n':
			if _, err := dec.ReadToken(); err != nil {
				return nil, notObject(err)
			}
		default: // numbers, true, false keep their literal text; objects and arrays compact JSON
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, fmt.Errorf("decoding env settings %q: %w", truncate(k, 40), err)
			}
			if len(raw) > maxEnvValueBytes {
				return nil, tooLong(k)
			}
			c := raw.Clone()
			if err := c.Compact(); err != nil {
				return nil, fmt.Errorf("decoding env settings %q: %w", truncate(k, 40), err)
			}
			v = string(c)
		}
		if len(v) > maxEnvValueBytes {
			return nil, tooLong(k)
		}
		out[k] = v
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, notObject(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, notObject(errors.New("unexpected data after the object"))
	}
	return out, nil
}

func isAvailableCommands(data []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	_, ok := probe["AvailableCommands"]
	return ok
}

func describeKind(k jsontext.Kind) string {
	switch k {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "'" + k.String() + "'"
}

// isSyntax reports whether err is a JSON syntax error (as opposed to an I/O error).
func isSyntax(err error) bool {
	var se *jsontext.SyntacticError
	return errors.As(err, &se)
}

// addSat adds without wrapping: hostile totals saturate instead of turning negative.
func addSat(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

func clampInt(v int64) int {
	if v > math.MaxInt {
		return math.MaxInt
	}
	if v < math.MinInt {
		return math.MinInt
	}
	return int(v)
}

// truncate keeps error messages short when the input is hostile.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
