//! The CPU's vector instruction sets, detected once per process. Every kernel chooses its code
//! path from here, so that detection (and what "AVX2" or "AVX-512" means to the kernels) lives
//! in one place.

use std::sync::OnceLock;

/// The instruction sets a kernel can be compiled for, from the most portable to the fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    Portable,
    /// AVX2 with FMA and F16C (half-precision conversions).
    Avx2,
    /// AVX-512 F and VL with FMA.
    Avx512,
    /// AVX-512 plus its bfloat16 conversions (one instruction to round f32 to bfloat16).
    Avx512Bf16,
}

impl Isa {
    /// The best instruction set this CPU supports (detected once).
    pub fn detect() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| *Isa::available().last().unwrap_or(&Isa::Portable))
    }

    /// Every instruction set this CPU can run, from the most portable to the fastest (tests run
    /// each of them).
    pub fn available() -> Vec<Isa> {
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let fma = has!("fma");
            if has!("avx2") && fma && has!("f16c") {
                isas.push(Isa::Avx2);
            }
            if has!("avx512f") && has!("avx512vl") && fma {
                isas.push(Isa::Avx512);
                if has!("avx512bf16") && has!("avx512dq") {
                    isas.push(Isa::Avx512Bf16);
                }
            }
        }
        isas
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Bf16 => "avx512_bf16",
        }
    }
}

/// Whether the CPU has the AVX-512 subset the kernels use (F, VL, FMA).
pub fn has_avx512() -> bool {
    Isa::detect() >= Isa::Avx512
}

/// Whether the CPU has AVX2 with FMA (and F16C).
pub fn has_avx2() -> bool {
    Isa::detect() >= Isa::Avx2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_isa_is_the_best_available_one() {
        let available = Isa::available();
        assert_eq!(available[0], Isa::Portable);
        assert!(available.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Some(&Isa::detect()), available.last());
        assert_eq!(has_avx512(), available.contains(&Isa::Avx512));
    }
}
