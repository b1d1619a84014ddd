//! 16-bit float storage types shared by every kernel that takes PyTorch's half types. They are only
//! stored in 16 bits: computations widen them to `f32` and round the result back (round to nearest,
//! ties to even), as PyTorch does on the CPU.

/// bfloat16, stored as its raw bits (layout-compatible with `c10::BFloat16`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct Bf16(pub u16);

/// IEEE 754 binary16, stored as its raw bits (layout-compatible with `c10::Half`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

/// The quiet NaN PyTorch produces when it rounds a NaN to bfloat16.
pub(crate) const BF16_NAN: u32 = 0x7FC0;

impl Bf16 {
    #[inline(always)]
    pub fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }

    #[inline(always)]
    pub fn from_f32(value: f32) -> Self {
        let bits = value.to_bits();
        if value.is_nan() {
            return Bf16(BF16_NAN as u16);
        }
        let rounding_bias = 0x7FFF + ((bits >> 16) & 1);
        Bf16((bits.wrapping_add(rounding_bias) >> 16) as u16)
    }
}

impl F16 {
    #[inline]
    pub fn to_f32(self) -> f32 {
        let half = self.0 as u32;
        let sign = (half & 0x8000) << 16;
        let exponent = (half >> 10) & 0x1F;
        let mantissa = half & 0x3FF;
        let magnitude = match exponent {
            // Zero and subnormals: mantissa * 2^-24 is exact in f32.
            0 => (mantissa as f32 * f32::from_bits(0x3380_0000)).to_bits(),
            0x1F => 0x7F80_0000 | (mantissa << 13),
            _ => ((exponent + 112) << 23) | (mantissa << 13),
        };
        f32::from_bits(sign | magnitude)
    }

    #[inline]
    pub fn from_f32(value: f32) -> Self {
        let bits = value.to_bits();
        let sign = (bits >> 16) & 0x8000;
        let magnitude = bits & 0x7FFF_FFFF;
        let half = if magnitude > 0x7F80_0000 {
            0x7E00 // NaN
        } else if magnitude >= 0x477F_F000 {
            0x7C00 // 65520 and above round to infinity
        } else if magnitude < 0x3880_0000 {
            // Below the smallest normal half (2^-14): round |x| * 2^24 to an integer, ties to even.
            let scaled = f32::from_bits(magnitude) * 16_777_216.0;
            let rounded = (scaled + 8_388_608.0) - 8_388_608.0;
            rounded as u32
        } else {
            // Rebias the exponent, then round the 13 dropped mantissa bits to nearest even; a carry
            // out of the mantissa correctly bumps the exponent.
            let rebiased = magnitude - (112 << 23);
            (rebiased + 0x0FFF + ((magnitude >> 13) & 1)) >> 13
        };
        F16((sign | half) as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_round_trip_and_rounding() {
        for bits in 0..=u16::MAX {
            let value = Bf16(bits).to_f32();
            let back = Bf16::from_f32(value);
            if value.is_nan() {
                assert_eq!(back.0, BF16_NAN as u16);
            } else {
                assert_eq!(back.0, bits);
            }
        }
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even gives 1.
        assert_eq!(Bf16::from_f32(1.0 + 1.0 / 256.0).0, 0x3F80);
        assert_eq!(Bf16::from_f32(1.0 + 3.0 / 256.0).0, 0x3F82);
        assert_eq!(Bf16::from_f32(f32::MAX).to_f32(), f32::INFINITY);
    }

    #[test]
    fn f16_round_trip() {
        for bits in 0..=u16::MAX {
            let value = F16(bits).to_f32();
            let back = F16::from_f32(value);
            if value.is_nan() {
                assert_eq!(back.0 & 0x7E00, 0x7E00);
            } else {
                assert_eq!(back.0, bits, "{bits:#x} -> {value}");
            }
        }
    }

    #[test]
    fn f16_rounding_edges() {
        assert_eq!(F16::from_f32(65504.0).0, 0x7BFF);
        assert_eq!(F16::from_f32(65519.0).0, 0x7BFF);
        assert_eq!(F16::from_f32(65520.0).0, 0x7C00);
        assert_eq!(F16::from_f32(-1e10).0, 0xFC00);
        assert_eq!(F16::from_f32(f32::NEG_INFINITY).0, 0xFC00);
        // Halfway between the two smallest subnormals rounds to the even one.
        assert_eq!(F16::from_f32(1.5 * 2f32.powi(-24)).0, 2);
        assert_eq!(F16::from_f32(0.5 * 2f32.powi(-24)).0, 0);
        assert_eq!(F16::from_f32(0.75 * 2f32.powi(-24)).0, 1);
        assert_eq!(F16::from_f32(1.0 + 1.0 / 2048.0).0, 0x3C00);
        assert_eq!(F16::from_f32(1.0 + 3.0 / 2048.0).0, 0x3C02);
        assert_eq!(
            F16::from_f32(2f32.powi(-14) * (1.0 - 1.0 / 4096.0)).0,
            0x0400
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn f16_matches_hardware_conversion() {
        if !crate::cpu::has_avx2() {
            return;
        }
        use std::arch::x86_64::*;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for i in 0..2_000_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Mostly values in the half range, some anywhere in f32.
            let bits = if i % 4 == 0 {
                state as u32
            } else {
                0x3000_0000 + (state as u32 % 0x1800_0000)
            };
            let value = f32::from_bits(bits);
            if value.is_nan() {
                continue; // the hardware keeps NaN payload bits; both give a NaN
            }
            let hardware = unsafe {
                _mm_extract_epi16::<0>(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set1_ps(
                    value,
                ))) as u16
            };
            assert_eq!(F16::from_f32(value).0, hardware, "{value:e}");
        }
    }
}
