//! The device service: the device's clock (for WS-Security), what it is, and where its other
//! services are.

use crate::OnvifError;
use crate::soap;
use crate::xml::{child, children, text_at};

const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";

/// Request bodies of the device service.
pub fn get_system_date_and_time() -> String {
    format!("<GetSystemDateAndTime xmlns=\"{NS_DEVICE}\"/>")
}

pub fn get_device_information() -> String {
    format!("<GetDeviceInformation xmlns=\"{NS_DEVICE}\"/>")
}

pub fn get_capabilities() -> String {
    format!("<GetCapabilities xmlns=\"{NS_DEVICE}\"><Category>All</Category></GetCapabilities>")
}

pub fn get_services() -> String {
    format!(
        "<GetServices xmlns=\"{NS_DEVICE}\"><IncludeCapability>false</IncludeCapability></GetServices>"
    )
}

/// The device's UTC clock, in seconds since the Unix epoch.
pub fn parse_system_date_and_time(answer: &str) -> Result<i64, OnvifError> {
    soap::read(answer, |b| {
        let sdt = child(b, "SystemDateAndTime").ok_or(OnvifError::Missing("SystemDateAndTime"))?;
        let utc = child(sdt, "UTCDateTime").ok_or(OnvifError::Missing("UTCDateTime"))?;
        let num = |p: &[&str], field: &'static str, range: std::ops::RangeInclusive<i64>| {
            let t = text_at(utc, p).ok_or(OnvifError::Missing(field))?;
            t.parse::<i64>()
                .ok()
                .filter(|v| range.contains(v))
                .ok_or_else(|| OnvifError::Invalid {
                    field,
                    value: t.to_string(),
                })
        };
        let y = num(&["Date", "Year"], "Year", 1970..=9999)?;
        let mo = num(&["Date", "Month"], "Month", 1..=12)?;
        let d = num(&["Date", "Day"], "Day", 1..=31)?;
        let h = num(&["Time", "Hour"], "Hour", 0..=23)?;
        let mi = num(&["Time", "Minute"], "Minute", 0..=59)?;
        let s = num(&["Time", "Second"], "Second", 0..=60)?;
        Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (WS-Security's `Created`).
pub fn utc_timestamp(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// What the device says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceInformation {
    pub manufacturer: String,
    pub model: String,
    pub firmware_version: String,
    pub serial_number: String,
    pub hardware_id: String,
}

pub fn parse_device_information(answer: &str) -> Result<DeviceInformation, OnvifError> {
    soap::read(answer, |b| {
        if b.tag_name().name() != "GetDeviceInformationResponse" {
            return Err(OnvifError::Missing("GetDeviceInformationResponse"));
        }
        let f = |name: &str| text_at(b, &[name]).unwrap_or("").to_string();
        Ok(DeviceInformation {
            manufacturer: f("Manufacturer"),
            model: f("Model"),
            firmware_version: f("FirmwareVersion"),
            serial_number: f("SerialNumber"),
            hardware_id: f("HardwareId"),
        })
    })
}

/// Where the device's services answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    pub media: Option<String>,
    /// Media2 (ver20), which only GetServices lists.
    pub media2: Option<String>,
    pub ptz: Option<String>,
    pub imaging: Option<String>,
    pub events: Option<String>,
}

/// The service addresses from a GetCapabilities or a GetServices answer.
pub fn parse_services(answer: &str) -> Result<Services, OnvifError> {
    soap::read(answer, |b| {
        let mut s = Services::default();
        match b.tag_name().name() {
            "GetCapabilitiesResponse" => {
                let caps = child(b, "Capabilities").ok_or(OnvifError::Missing("Capabilities"))?;
                let addr = |name: &str| text_at(caps, &[name, "XAddr"]).map(str::to_string);
                s.media = addr("Media");
                s.ptz = addr("PTZ");
                s.imaging = addr("Imaging");
                s.events = addr("Events");
            }
            "GetServicesResponse" => {
                for svc in children(b, "Service") {
                    let (Some(ns), Some(addr)) =
                        (text_at(svc, &["Namespace"]), text_at(svc, &["XAddr"]))
                    else {
                        continue;
                    };
                    let slot = match ns {
                        "http://www.onvif.org/ver10/media/wsdl" => &mut s.media,
                        "http://www.onvif.org/ver20/media/wsdl" => &mut s.media2,
                        "http://www.onvif.org/ver20/ptz/wsdl" => &mut s.ptz,
                        "http://www.onvif.org/ver20/imaging/wsdl" => &mut s.imaging,
                        "http://www.onvif.org/ver10/events/wsdl" => &mut s.events,
                        _ => continue,
                    };
                    *slot = Some(addr.to_string());
                }
            }
            _ => return Err(OnvifError::Missing("GetCapabilitiesResponse")),
        }
        for addr in [&s.media, &s.media2, &s.ptz, &s.imaging, &s.events]
            .into_iter()
            .flatten()
        {
            if !(addr.starts_with("http://") || addr.starts_with("https://")) {
                return Err(OnvifError::Invalid {
                    field: "XAddr",
                    value: addr.clone(),
                });
            }
        }
        Ok(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
<SOAP-ENV:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>
<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>
<tt:UTCDateTime><tt:Time><tt:Hour>7</tt:Hour><tt:Minute>50</tt:Minute><tt:Second>45</tt:Second></tt:Time>
<tt:Date><tt:Year>2010</tt:Year><tt:Month>9</tt:Month><tt:Day>16</tt:Day></tt:Date></tt:UTCDateTime>
</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

    #[test]
    fn the_device_clock_is_read_as_utc() {
        let t = parse_system_date_and_time(DATE).unwrap();
        assert_eq!(t, 1_284_623_445);
        assert_eq!(utc_timestamp(t), "2010-09-16T07:50:45Z");
    }

    #[test]
    fn dates_round_trip() {
        for t in [
            0i64,
            951_782_400,
            1_709_164_800,
            4_102_444_799,
            253_402_300_799,
        ] {
            let s = utc_timestamp(t);
            let answer = DATE
                .replace("<tt:Hour>7", &format!("<tt:Hour>{}", &s[11..13]))
                .replace("<tt:Minute>50", &format!("<tt:Minute>{}", &s[14..16]))
                .replace("<tt:Second>45", &format!("<tt:Second>{}", &s[17..19]))
                .replace("<tt:Year>2010", &format!("<tt:Year>{}", &s[0..4]))
                .replace("<tt:Month>9", &format!("<tt:Month>{}", &s[5..7]))
                .replace("<tt:Day>16", &format!("<tt:Day>{}", &s[8..10]));
            assert_eq!(parse_system_date_and_time(&answer).unwrap(), t, "{s}");
        }
    }

    #[test]
    fn a_clock_out_of_range_is_a_clear_error() {
        let bad = DATE.replace("<tt:Month>9", "<tt:Month>13");
        assert_eq!(
            parse_system_date_and_time(&bad).unwrap_err(),
            OnvifError::Invalid {
                field: "Month",
                value: "13".into()
            }
        );
        let none = DATE.replace("UTCDateTime", "LocalDateTime");
        assert_eq!(
            parse_system_date_and_time(&none).unwrap_err(),
            OnvifError::Missing("UTCDateTime")
        );
    }

    #[test]
    fn services_from_capabilities_or_get_services() {
        let caps = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetCapabilitiesResponse xmlns="http://www.onvif.org/ver10/device/wsdl"><Capabilities><Media xmlns="http://www.onvif.org/ver10/schema"><XAddr>http://10.0.0.5/onvif/media</XAddr></Media><PTZ xmlns="http://www.onvif.org/ver10/schema"><XAddr>http://10.0.0.5/onvif/ptz</XAddr></PTZ></Capabilities></GetCapabilitiesResponse></s:Body></s:Envelope>"#;
        let s = parse_services(caps).unwrap();
        assert_eq!(s.media.as_deref(), Some("http://10.0.0.5/onvif/media"));
        assert_eq!(s.ptz.as_deref(), Some("http://10.0.0.5/onvif/ptz"));
        assert_eq!(s.events, None);
        let svcs = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tds:GetServicesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>http://cam/media</tds:XAddr></tds:Service><tds:Service><tds:Namespace>http://www.onvif.org/ver20/ptz/wsdl</tds:Namespace><tds:XAddr>file:///etc/passwd</tds:XAddr></tds:Service></tds:GetServicesResponse></s:Body></s:Envelope>"#;
        assert!(matches!(
            parse_services(svcs),
            Err(OnvifError::Invalid { field: "XAddr", .. })
        ));
    }

    #[test]
    fn device_information() {
        let a = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><tds:GetDeviceInformationResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:Manufacturer>Acme</tds:Manufacturer><tds:Model>PTZ-1</tds:Model><tds:FirmwareVersion>1.2</tds:FirmwareVersion><tds:SerialNumber>42</tds:SerialNumber><tds:HardwareId>h</tds:HardwareId></tds:GetDeviceInformationResponse></s:Body></s:Envelope>"#;
        let d = parse_device_information(a).unwrap();
        assert_eq!(
            (d.manufacturer.as_str(), d.model.as_str()),
            ("Acme", "PTZ-1")
        );
    }
}
