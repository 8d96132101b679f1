package store

import "strings"

// AWSRegions lists the AWS regions a destination may name when it uses AWS
// itself (no custom endpoint), with their display names.
var AWSRegions = []struct{ Code, Name string }{
	{"us-east-1", "US East (N. Virginia)"},
	{"us-east-2", "US East (Ohio)"},
	{"us-west-1", "US West (N. California)"},
	{"us-west-2", "US West (Oregon)"},
	{"af-south-1", "Africa (Cape Town)"},
	{"ap-east-1", "Asia Pacific (Hong Kong)"},
	{"ap-east-2", "Asia Pacific (Taipei)"},
	{"ap-south-1", "Asia Pacific (Mumbai)"},
	{"ap-south-2", "Asia Pacific (Hyderabad)"},
	{"ap-southeast-1", "Asia Pacific (Singapore)"},
	{"ap-southeast-2", "Asia Pacific (Sydney)"},
	{"ap-southeast-3", "Asia Pacific (Jakarta)"},
	{"ap-southeast-4", "Asia Pacific (Melbourne)"},
	{"ap-southeast-5", "Asia Pacific (Malaysia)"},
	{"ap-southeast-6", "Asia Pacific (New Zealand)"},
	{"ap-southeast-7", "Asia Pacific (Thailand)"},
	{"ap-northeast-1", "Asia Pacific (Tokyo)"},
	{"ap-northeast-2", "Asia Pacific (Seoul)"},
	{"ap-northeast-3", "Asia Pacific (Osaka)"},
	{"ca-central-1", "Canada (Central)"},
	{"ca-west-1", "Canada West (Calgary)"},
	{"eu-central-1", "Europe (Frankfurt)"},
	{"eu-central-2", "Europe (Zurich)"},
	{"eu-west-1", "Europe (Ireland)"},
	{"eu-west-2", "Europe (London)"},
	{"eu-west-3", "Europe (Paris)"},
	{"eu-south-1", "Europe (Milan)"},
	{"eu-south-2", "Europe (Spain)"},
	{"eu-north-1", "Europe (Stockholm)"},
	{"il-central-1", "Israel (Tel Aviv)"},
	{"me-south-1", "Middle East (Bahrain)"},
	{"me-central-1", "Middle East (UAE)"},
	{"mx-central-1", "Mexico (Central)"},
	{"sa-east-1", "South America (São Paulo)"},
	{"us-gov-east-1", "AWS GovCloud (US-East)"},
	{"us-gov-west-1", "AWS GovCloud (US-West)"},
	{"cn-north-1", "China (Beijing)"},
	{"cn-northwest-1", "China (Ningxia)"},
}

// IsAWSRegion reports whether code names an AWS region.
func IsAWSRegion(code string) bool {
	for _, r := range AWSRegions {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Partition returns the AWS partition of a region: aws, aws-cn or aws-us-gov.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
