/* B-spline basis with local support: float64 and float32 from one template. */
#include "dk_bspline.h"

#define REAL double
#define SFX(name) name##_f64
#include "dk_bspline_local.inc"
#include "dk_bspline_impl.inc"
#undef REAL
#undef SFX

#define REAL float
#define SFX(name) name##_f32
#include "dk_bspline_local.inc"
#include "dk_bspline_impl.inc"
#undef REAL
#undef SFX
