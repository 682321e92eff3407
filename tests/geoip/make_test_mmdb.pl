#!/usr/bin/perl
# make_test_mmdb.pl - writes test-city.mmdb and test-asn.mmdb, the small
# GeoIP databases of the tests (documentation and private ranges only; see
# README.md for the table). Needs Debian's libmaxmind-db-writer-perl.
#   perl tests/geoip/make_test_mmdb.pl [OUTDIR]   (default: this script's directory)
# The output is byte-for-byte reproducible (fixed build time, sorted keys).
use strict;
use warnings;
use utf8;
use File::Basename qw(dirname);
use MaxMind::DB::Writer::Tree;

my $outdir = $ARGV[0] // dirname(__FILE__);
my $EPOCH = 1767225600;    # 2026-01-01T00:00:00Z, so reruns give the same bytes

# network => [country, latitude, longitude, ASN, AS organisation]
# A field that is undef is left out of that database.
my @NETS = (
  ['10.0.0.0/8',      'DE', 52.5200,  13.4050,  64496, 'EXAMPLE-UNIVERSITY'],   # the site
  ['192.0.2.0/24',    'US', 40.7128,  -74.0060, 64497, 'EXAMPLE-NEW-YORK-ISP'],
  ['198.51.100.0/24', 'DE', 52.5200,  13.4050,  64498, 'EXAMPLE-BERLIN-ISP'],
  ['203.0.113.0/24',  'BR', -23.5505, -46.6333, 64499,
   'EXAMPLE-SÃO-PAULO-TELECOMUNICAÇÕES-DE-SERVIÇOS-DE-INTERNET-LTDA'],    # longer than struct geo's org, cut inside a Ç
  ['100.64.0.0/16',   'DE', 52.5200,  13.4050,  64500, 'EXAMPLE-BERLIN-MOBILE'],
  ['100.65.0.0/16',   'DE', 50.1109,  8.6821,   64510, 'TEST-HOSTING'],         # the hosting provider
  ['2001:db8::/32',   'FR', 48.8566,  2.3522,   65536, 'EXAMPLE-PARIS-V6'],
  ['198.18.0.0/16',   'IE', undef,    undef,    undef, undef],                  # country only
  ['198.19.0.0/16',   undef, undef,   undef,    65551, 'EXAMPLE-ASN-ONLY'],     # ASN only
);

my %TYPES = (
  country                        => 'map',
  location                       => 'map',
  iso_code                       => 'utf8_string',
  latitude                       => 'double',
  longitude                      => 'double',
  autonomous_system_number       => 'uint32',
  autonomous_system_organization => 'utf8_string',
);

sub new_tree {
  my ($type, $desc) = @_;
  my $t = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => $type,
    languages                => ['en'],
    description              => {en => $desc},
    map_key_type_callback    => sub { $TYPES{$_[0]} },
    alias_ipv6_to_ipv4       => 1,
    remove_reserved_networks => 0,    # every network here is a reserved one
  );
  $t->_set_build_epoch($EPOCH) if $t->can('_set_build_epoch');
  return $t;
}

sub write_tree {
  my ($t, $file) = @_;
  open my $fh, '>:raw', "$outdir/$file" or die "$outdir/$file: $!\n";
  $t->write_tree($fh);
  close $fh or die "$outdir/$file: $!\n";
  print "wrote $outdir/$file\n";
}

my $city = new_tree('mailfuse-Test-City', 'mailfuse test networks: country and location');
my $asn  = new_tree('mailfuse-Test-ASN',  'mailfuse test networks: autonomous systems');
for my $n (@NETS) {
  my ($net, $cc, $lat, $lon, $as, $org) = @$n;
  my %rec;
  $rec{country}  = {iso_code => $cc} if defined $cc;
  $rec{location} = {latitude => $lat, longitude => $lon} if defined $lat;
  $city->insert_network($net, \%rec) if %rec;
  $asn->insert_network($net,
    {autonomous_system_number => $as, autonomous_system_organization => $org})
    if defined $as;
}
write_tree($city, 'test-city.mmdb');
write_tree($asn,  'test-asn.mmdb');
