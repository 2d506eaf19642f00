package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// condBase is a valid file with two routes and a role; the cases below add to its allow list
// (line 11 onward), its top level, or a raw_ladon section.
const condBase = `version: 1
routes:
  - {name: home, methods: [GET], paths: ["/"]}
  - {name: customers.read, methods: [GET], paths: ["/customers/{id}"]}
  - {name: reports, methods: [GET], paths: ["/reports", "/reports/{name}"]}
roles:
  sales:
    description: Sales
    allow:
      - home
`

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		name string
		add  string // appended to condBase
		want []string
	}{
		{"unknown condition key", "      - reports: {sorce: 10.0.0.0/8}\n",
			[]string{`bad.yaml:11: roles.sales.allow.reports.sorce: unknown key (allowed keys: use, source, hours, mfa_within, owns)`}},
		{"empty conditions", "      - reports: {}\n",
			[]string{`bad.yaml:11: roles.sales.allow.reports: empty conditions: write at least one of [source hours mfa_within owns], or drop them`}},
		{"two routes in one entry", "      - {reports: {mfa_within: 5m}, home: {mfa_within: 5m}}\n",
			[]string{`bad.yaml:11: roles.sales.allow: an entry with conditions names one route: "- route.name: {conditions}"`}},
		{"bad networks", "      - reports: {source: [10.0.0.0/33, 10.1.2.3/8, \"::ffff:10.0.0.0/104\", office]}\n",
			[]string{
				`bad.yaml:11: roles.sales.allow.reports.source: "10.0.0.0/33" is not a network: write a CIDR such as 10.0.0.0/8 or 2001:db8::/32`,
				`bad.yaml:11: roles.sales.allow.reports.source: "10.1.2.3/8" has host bits set: write the network, 10.0.0.0/8`,
				`bad.yaml:11: roles.sales.allow.reports.source: "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 network: write it in IPv4 form, e.g. 10.0.0.0/8`,
				`bad.yaml:11: roles.sales.allow.reports.source: "office" is not a network: write a CIDR such as 10.0.0.0/8 or 2001:db8::/32`,
			}},
		{"bad durations", "      - reports: {mfa_within: 5}\n      - customers.read: {mfa_within: -1m}\n",
			[]string{
				`bad.yaml:11: roles.sales.allow.reports.mfa_within: "5" is not a duration: write one such as 5m or 1h`,
				`bad.yaml:12: roles.sales.allow.customers.read.mfa_within: must be longer than zero, e.g. 5m`,
			}},
		{"bad windows", `      - reports:
          hours:
            - {days: [mon-fri, fri-mon, Monday], from: "8:00", to: "18:00", zone: Europe/Berlin}
            - {days: [sat], from: "18:00", to: "08:00", zone: Mars/Olympus}
            - {days: [sun], from: "00:00", to: "24:00"}
`, []string{
			`bad.yaml:13: roles.sales.allow.reports.hours[0].days: "fri-mon" is not a day or range: write mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri`,
			`bad.yaml:13: roles.sales.allow.reports.hours[0].days: "Monday" is not a day or range: write mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri`,
			`bad.yaml:13: roles.sales.allow.reports.hours[0].from: "8:00" is not a time of day: write "HH:MM", e.g. "08:00"`,
			`bad.yaml:14: roles.sales.allow.reports.hours[1].to: must be after from (18:00): for a window across midnight write two windows`,
			`bad.yaml:14: roles.sales.allow.reports.hours[1].zone: "Mars/Olympus" is not a time zone: write an IANA name such as Europe/Berlin or UTC`,
			`bad.yaml:15: roles.sales.allow.reports.hours[2].zone: missing: a time window needs days, from, to and zone, e.g. {days: [mon-fri], from: "08:00", to: "18:00", zone: Europe/Berlin}`,
		}},
		{"owns needs the parameter in every path", "      - reports: {owns: {param: name, list: reports}}\n      - customers.read: {owns: {param: id}}\n",
			[]string{
				`bad.yaml:11: roles.sales.allow.reports: owns: path "/reports" of route "reports" has no parameter {name}: every path of the route must carry the owned id`,
				`bad.yaml:12: roles.sales.allow.customers.read.owns.list: missing: name the directory's ownership list, e.g. list: customers`,
			}},
		{"mfa and owns are for allows", "    deny:\n      - reports: {mfa_within: 5m}\n      - customers.read: {owns: {param: id, list: customers}}\n",
			[]string{
				`bad.yaml:12: roles.sales.deny.reports: mfa_within cannot be used on a deny: put it on the allow entries of the route instead`,
				`bad.yaml:13: roles.sales.deny.customers.read: owns cannot be used on a deny: put it on the allow entries of the route instead`,
			}},
		{"condition sets", "      - reports: nearby\n      - customers.read: {use: [fresh], mfa_within: 1m}\nconditions:\n  fresh: {mfa_within: 5m}\n  Bad Name: {use: fresh}\n",
			[]string{
				`bad.yaml:11: roles.sales.allow.reports: unknown condition set "nearby" (defined sets: fresh, Bad Name)`,
				`bad.yaml:12: roles.sales.allow.customers.read: mfa_within is set twice (again by this entry): keep one`,
				`bad.yaml:15: conditions.Bad Name.use: unknown key (allowed keys: source, hours, mfa_within, owns)`,
				`bad.yaml:15: conditions.Bad Name: condition set name "Bad Name" must be a lower-case word, e.g. office_network`,
			}},
		{"raw ladon policies", `raw_ladon:
  - id: Bad:Id
    subjects: [intern, "<(?i)sales>", Sales]
    actions: [get, "<GET|HEAD>"]
    resources: ["/reports?x", "/reports<(/.*)?>", "<[[:alpha:]]>", '/a/<\d+>\.csv']
    effect: permit
  - id: deny-mfa
    subjects: [sales]
    actions: [GET]
    resources: [/reports]
    effect: deny
    conditions:
      mfa_at: {type: MFAFreshCondition, options: {max_age: 5m}}
      source: {type: TimeWindowCondition, options: {days: [mon], from: "08:00", to: "09:00", zone: UTC}}
      time: {type: StringEqualCondition}
  - id: deny-mfa
    subjects: [sales]
    actions: [GET]
    resources: [/reports]
    effect: allow
    conditions:
      source: {type: CIDRCondition}
`, []string{
			`bad.yaml:12: raw_ladon[0].id: id "Bad:Id" must be lower-case letters, digits, ".", "_" or "-", e.g. exports-from-office`,
			`bad.yaml:13: raw_ladon[0].subjects: unknown role "intern" (defined roles: sales)`,
			`bad.yaml:13: raw_ladon[0].subjects: template "<(?i)sales>": expression <(?i)sales>: only plain groups "( )" and "(?: )" are supported: flags, named groups and look-arounds are not`,
			`bad.yaml:13: raw_ladon[0].subjects: "Sales" is neither a role name nor a ladon template such as <(sales_rep|support)>`,
			`bad.yaml:14: raw_ladon[0].actions: "get" is not an upper-case method such as GET, nor a ladon template such as <GET|HEAD>`,
			`bad.yaml:15: raw_ladon[0].resources: "/reports?x" never matches: requests are decided on canonical paths such as /exports/2024`,
			`bad.yaml:15: raw_ladon[0].resources: template "<[[:alpha:]]>": expression <[[:alpha:]]>: "[" inside a character class is read differently by ladon and Go: write "\["`,
			`bad.yaml:15: raw_ladon[0].resources: template "/a/<\\d+>\\.csv" never matches: the text "\\.csv" outside <...> holds '\\', which no canonical path holds (ladon matches that text literally; put expressions between < and >)`,
			`bad.yaml:16: raw_ladon[0].effect: "permit" is not an effect: write allow or deny`,
			`bad.yaml:23: raw_ladon[1].conditions.mfa_at: an MFA freshness condition belongs on an allow policy`,
			`bad.yaml:24: raw_ladon[1].conditions.source: a TimeWindowCondition reads the request-context key "time": put it under time`,
			`bad.yaml:25: raw_ladon[1].conditions.time.type: unsupported condition type "StringEqualCondition": use CIDRCondition (key source), TimeWindowCondition (key time) or MFAFreshCondition (key mfa_at)`,
			`bad.yaml:26: raw_ladon[2].id: duplicate id "deny-mfa" (first at line 17): ids must be unique`,
			`bad.yaml:32: raw_ladon[2].conditions.source.options: missing: CIDRCondition needs options`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(condBase+tc.add))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseConditionsGood: every condition form loads, and lands on the grant as written.
func TestParseConditionsGood(t *testing.T) {
	src := condBase + `      - reports: {use: office, hours: [{days: [mon-fri], from: "08:00", to: "18:00", zone: Europe/Berlin}, {days: [sat], from: "10:00", to: "12:00", zone: UTC}]}
      - customers.read: {owns: {param: id, list: customers}, mfa_within: 90s}
conditions:
  office: {source: ["10.0.0.0/8", "2001:db8::/32"]}
`
	e := mustParse(t, src)
	reports := e.policies["sales:reports:allow"].cond
	if len(reports.source) != 2 || len(reports.windows) != 2 || reports.mfa != 0 || reports.owns != nil {
		t.Errorf("reports condition = %+v", reports)
	}
	cust := e.policies["sales:customers.read:allow"].cond
	if cust.mfa.Seconds() != 90 || cust.owns == nil || *cust.owns != (ownsBinding{param: "id", list: "customers"}) {
		t.Errorf("customers.read condition = %+v", cust)
	}
	if w := e.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if !strings.Contains(reports.windows[0].text, "Europe/Berlin") {
		t.Errorf("window text %q", reports.windows[0].text)
	}
}
