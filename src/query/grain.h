// How finely a pre-aggregate keeps a column's values: as they are, a date or time truncated, or a
// number by its bin (query/bins.h). Ordered from fine to coarse, so a column kept at grain G
// serves every need of grain >= G (a column is either a time or a number, never both).
#pragma once

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

}  // namespace sightline::query
