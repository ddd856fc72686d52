// How finely a pre-aggregate keeps a column's values: as they are, or a date or time truncated.
// Ordered from fine to coarse, so a column kept at grain G serves every need of grain >= G.
#pragma once

namespace sightline::query {

enum class Grain { Exact = 0, Hour = 1, Day = 2, Month = 3 };

// "hour", "day", "month" ("" for Exact).
inline const char* grain_name(Grain g) {
  switch (g) {
    case Grain::Hour: return "hour";
    case Grain::Day: return "day";
    case Grain::Month: return "month";
    case Grain::Exact: break;
  }
  return "";
}

}  // namespace sightline::query
