// How finely a pre-aggregate keeps a column's values: as they are, a date or time truncated, or a
// number by its bin (query/bins.h). Ordered from fine to coarse, so a column kept at grain G
// serves every need of grain >= G (a column is either a time or a number, never both).
#pragma once

#include <string_view>

namespace sightline::query {

enum class Grain { Exact = 0, Hour = 1, Day = 2, Month = 3, Bins = 4 };

// "hour", "day", "month" ("" for Exact).
inline const char* grain_name(Grain g) {
  switch (g) {
    case Grain::Hour: return "hour";
    case Grain::Day: return "day";
    case Grain::Month: return "month";
    case Grain::Bins: return "bins";
    case Grain::Exact: break;
  }
  return "";
}

// The coarsest grain that answers a dimension shown at `grain` (a DimensionSpec's): a month
// answers months, quarters, years and the month of the year; a day answers days, weeks and the
// day of the week; an hour answers hours and the hour of the day.
inline Grain need_of_dimension(std::string_view grain) {
  if (grain == "month" || grain == "quarter" || grain == "year" || grain == "month_of_year") return Grain::Month;
  if (grain == "day" || grain == "week" || grain == "day_of_week") return Grain::Day;
  if (grain == "hour" || grain == "hour_of_day") return Grain::Hour;
  return Grain::Exact;
}

}  // namespace sightline::query
